// Text pipeline Wasm module: cleaning, de-duplication, scrubbing, BPE and WordPiece.
// Entry point for `asc --target text`; each part lives in its own file and is re-exported here.
export function abiVersion(): i32 {
  return 1;
}
export { alloc, free, outputPtr } from './memory';
export { unicodeClasses } from './unicode';
export * from './bpe';
export * from './bpe_train';
export * from './wordpiece';
export * from './utf8';
export { hashBytes, hashSetNew, hashSetAddBytes, hashSetSize, hashSetFree } from './hash';
export * from './clean';
export * from './dedup';
export * from './scrub';
