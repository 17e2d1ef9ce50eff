// The one seam between portable code and its host. Node (files, Dawn) and the
// browser (navigator.gpu, in-memory files) each install an implementation at
// start-up; everything else calls `platform()` and runs unchanged in both.

export interface Platform {
  readonly name: 'node' | 'browser';
  /** The WebGPU entry point, or null when the host has none. */
  gpu(): Promise<GPU | null>;
  /** Advice shown when no adapter is found (which driver to install). */
  noAdapterHint(): string;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a file so that a crash leaves either the old or the new content (temp file + rename). */
  writeFileAtomic(path: string, data: Uint8Array | string): Promise<void>;
  appendFile(path: string, data: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  listDir(path: string): Promise<string[]>;
  mkdirp(path: string): Promise<void>;
  remove(path: string): Promise<void>;
}

let current: Platform | null = null;

export function setPlatform(p: Platform): void {
  current = p;
}

export function platform(): Platform {
  if (!current) throw new Error('webtrain: no platform installed; import "webtrain/node" or the browser bundle first');
  return current;
}
