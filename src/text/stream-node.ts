// Node only: documents from files on disk, read in 1 MiB chunks (gzip-compressed when the
// name ends in .gz), so inputs of any size pass through in bounded memory.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.js';
import { documentsFromChunks, formatForPath, type Document, type StreamOptions, type Utf8Report } from './stream.js';

const CHUNK_BYTES = 1 << 20;

export interface FileReadOptions extends Partial<StreamOptions> {
  /** Called with the number of file bytes read so far (compressed bytes for .gz). */
  onProgress?: (bytesRead: number) => void;
  onUtf8Report?: (report: Utf8Report) => void;
}

/** Size of a file in bytes, with a clear error when it is missing. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    throw new InputError(`input file not found or unreadable: ${path}`);
  }
}

export async function* readDocuments(path: string, options: FileReadOptions = {}): AsyncGenerator<Document> {
  await fileSize(path);
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  const source: AsyncIterable<Uint8Array> = path.endsWith('.gz') ? file.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : file;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      yield chunk;
      options.onProgress?.(file.bytesRead);
    }
  }
  try {
    yield* documentsFromChunks(
      chunks(),
      { ...options, format: options.format ?? formatForPath(path), source: options.source ?? path },
      options.onUtf8Report,
    );
  } finally {
    file.destroy();
  }
}
