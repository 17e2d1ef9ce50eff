// A byte buffer inside the text Wasm module's memory: text goes in once (UTF-8) and the
// cleaning, de-duplication and scrubbing passes all work on it there without further copies.
import type { TextWasm } from './wasm.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class WasmBytes {
  ptr = 0;
  capacity = 0;
  length = 0;

  constructor(readonly wasm: TextWasm) {}

  /** Makes room for `bytes` bytes; the contents are not kept. */
  reserve(bytes: number): void {
    if (bytes <= this.capacity) return;
    if (this.ptr) this.wasm.free(this.ptr);
    this.capacity = Math.max(bytes, this.capacity * 2, 4096);
    this.ptr = this.wasm.alloc(this.capacity);
  }

  /** The current contents, as a view of Wasm memory (valid until the next Wasm call that may grow it). */
  bytes(): Uint8Array {
    return new Uint8Array(this.wasm.memory.buffer, this.ptr, this.length);
  }

  setBytes(data: Uint8Array): void {
    this.reserve(data.length);
    new Uint8Array(this.wasm.memory.buffer, this.ptr, data.length).set(data);
    this.length = data.length;
  }

  setString(text: string): void {
    this.reserve(text.length * 3);
    this.length = encoder.encodeInto(text, new Uint8Array(this.wasm.memory.buffer, this.ptr, this.capacity)).written;
  }

  toString(): string {
    return decoder.decode(this.bytes());
  }

  dispose(): void {
    if (this.ptr) this.wasm.free(this.ptr);
    this.ptr = this.capacity = this.length = 0;
  }
}
