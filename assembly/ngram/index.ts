// N-gram language model Wasm module: counting, modified Kneser-Ney, ARPA, query.
// Entry point for `asc --target ngram`.
export function abiVersion(): i32 {
  return 1;
}
