// Browser host: navigator.gpu, and an in-memory file system (checkpoints can be
// downloaded by the page; nothing here touches the network).
import type { Platform } from './index.js';
import { setPlatform } from './index.js';

const files = new Map<string, Uint8Array>();
const enc = new TextEncoder();
const bytes = (d: Uint8Array | string) => (typeof d === 'string' ? enc.encode(d) : d);

export const browserPlatform: Platform = {
  name: 'browser',
  gpu: async () => (typeof navigator !== 'undefined' && 'gpu' in navigator ? navigator.gpu : null),
  noAdapterHint: () =>
    'This browser exposes no WebGPU adapter. Use a recent Chrome/Edge (or start Chromium with --enable-unsafe-webgpu).',
  async readFile(p) {
    const f = files.get(p);
    if (!f) throw new Error(`webtrain: no file ${p} in the in-memory file system`);
    return f;
  },
  writeFileAtomic: async (p, d) => void files.set(p, bytes(d).slice()),
  async appendFile(p, d) {
    const old = files.get(p) ?? new Uint8Array(0);
    const add = bytes(d);
    const out = new Uint8Array(old.length + add.length);
    out.set(old);
    out.set(add, old.length);
    files.set(p, out);
  },
  exists: async (p) => files.has(p) || [...files.keys()].some((k) => k.startsWith(p.endsWith('/') ? p : p + '/')),
  listDir: async (p) => {
    const prefix = p.endsWith('/') ? p : p + '/';
    return [...new Set([...files.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('/')[0]))];
  },
  mkdirp: async () => {},
  remove: async (p) => {
    for (const k of [...files.keys()]) if (k === p || k.startsWith(p + '/')) files.delete(k);
  },
};

export function useBrowserPlatform(): void {
  setPlatform(browserPlatform);
}
