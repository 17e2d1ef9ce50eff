// Moving text and id arrays across the JS/Wasm boundary in whole buffers (never per character).
import type { TextWasm } from './wasm.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** One reusable input area per module instance; calls are synchronous, so one is enough. */
const inputAreas = new WeakMap<TextWasm, { ptr: number; size: number }>();

/** Wasm memory of at least `size` bytes for input, reused between calls (valid until the next call). */
export function inputArea(w: TextWasm, size: number): number {
  let area = inputAreas.get(w);
  if (!area || area.size < size) {
    if (area) w.free(area.ptr);
    const grown = Math.max(size, (area?.size ?? 0) * 2, 1 << 16);
    area = { ptr: w.alloc(grown), size: grown };
    inputAreas.set(w, area);
  }
  return area.ptr;
}

/** Writes `text` as UTF-8 into the input area; returns its pointer and byte length. */
export function writeUtf8(w: TextWasm, text: string): { ptr: number; len: number } {
  const capacity = text.length * 3;
  const ptr = inputArea(w, capacity);
  const { written } = utf8Encoder.encodeInto(text, new Uint8Array(w.memory.buffer, ptr, capacity));
  return { ptr, len: written };
}

/** Writes bytes into the input area. */
export function writeBytes(w: TextWasm, bytes: Uint8Array): number {
  const ptr = inputArea(w, bytes.length);
  new Uint8Array(w.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Writes ids (u32) into the input area. */
export function writeIds(w: TextWasm, ids: ArrayLike<number>): number {
  const ptr = inputArea(w, ids.length * 4);
  new Uint32Array(w.memory.buffer, ptr, ids.length).set(ids);
  return ptr;
}

/** Copies `count` u32 from the module's output buffer. */
export function readOutputIds(w: TextWasm, count: number): Uint32Array {
  return new Uint32Array(w.memory.buffer, w.outputPtr(), count).slice();
}

/** Decodes `len` bytes of the output buffer as UTF-8 (invalid sequences become U+FFFD). */
export function readOutputText(w: TextWasm, len: number): string {
  return utf8Decoder.decode(new Uint8Array(w.memory.buffer, w.outputPtr(), len));
}

/** Copies a whole array into freshly allocated Wasm memory (caller frees). */
export function allocCopy(w: TextWasm, data: Uint8Array | Uint32Array): number {
  const ptr = w.alloc(Math.max(data.byteLength, 1));
  new Uint8Array(w.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return ptr;
}
