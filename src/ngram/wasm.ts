// Loads the n-gram Wasm module (built by `asc --target ngram` into build/), embedded at bundle time.
import bytes from '../../build/ngram.wasm';
import { instantiate } from '../../build/ngram.js';

export type NgramWasm = Awaited<ReturnType<typeof instantiate>>;

let instance: Promise<NgramWasm> | null = null;

export function ngramWasm(): Promise<NgramWasm> {
  return (instance ??= WebAssembly.compile(bytes as BufferSource).then((m) => instantiate(m, { env: {} })));
}
