// Loads the text pipeline's Wasm module (built by `asc --target text` into build/).
// The bytes are embedded at bundle time, so Node and the browser instantiate it the same way.
import bytes from '../../build/text.wasm';
import { instantiate } from '../../build/text.js';

export type TextWasm = Awaited<ReturnType<typeof instantiate>>;

let instance: Promise<TextWasm> | null = null;

/** The module's exports, instantiated once per process (or page). */
export function textWasm(): Promise<TextWasm> {
  return (instance ??= WebAssembly.compile(bytes as BufferSource).then((m) => instantiate(m, { env: {} })));
}
