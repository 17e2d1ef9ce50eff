// Buffers JS fills or reads (UTF-8 text, id arrays). Unmanaged memory, so the GC never moves or frees it.

/** Allocates `size` bytes of Wasm memory for the host to write into; release with `free`. */
export function alloc(size: usize): usize {
  return heap.alloc(size);
}

export function free(ptr: usize): void {
  heap.free(ptr);
}

/** Where the last call that produced output (ids or bytes) left it; read with `outputPtr()`. */
let output: usize = 0;
let outputCapacity: usize = 0;

export function outputPtr(): usize {
  return output;
}

/** Makes the output buffer hold at least `bytes` bytes and returns it (contents not kept). */
export function reserveOutput(bytes: usize): usize {
  if (bytes > outputCapacity) {
    if (output) heap.free(output);
    outputCapacity = max<usize>(bytes, outputCapacity * 2);
    output = heap.alloc(outputCapacity);
  }
  return output;
}

/** Grows the output buffer to `bytes`, keeping its first `used` bytes. */
export function growOutput(bytes: usize): usize {
  if (bytes > outputCapacity) {
    outputCapacity = max<usize>(bytes, outputCapacity * 2);
    output = heap.realloc(output, outputCapacity);
  }
  return output;
}
