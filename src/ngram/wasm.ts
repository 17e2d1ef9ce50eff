// Loads the n-gram Wasm module (built by `asc --target ngram` into build/), embedded at bundle time.
import bytes from '../../build/ngram.wasm';
import { instantiate } from '../../build/ngram.js';

export type NgramWasm = Awaited<ReturnType<typeof instantiate>>;

let compiled: Promise<WebAssembly.Module> | null = null;
let instance: Promise<NgramWasm> | null = null;

function compile(): Promise<WebAssembly.Module> {
  return (compiled ??= WebAssembly.compile(bytes as BufferSource));
}

/** The shared instance. */
export function ngramWasm(): Promise<NgramWasm> {
  return (instance ??= compile().then((m) => instantiate(m, { env: {} })));
}

/** A fresh instance with its own memory: each n-gram model owns one, so several can coexist. */
export async function newNgramInstance(): Promise<NgramWasm> {
  return instantiate(await compile(), { env: {} });
}
