// MinHash signatures over word shingles, and LSH band keys, for near-duplicate detection.
// Words are lower-cased (ASCII) with ASCII punctuation dropped, so re-punctuated or re-cased
// copies still match; each permutation is a multiply-shift hash of the shingle's 64-bit hash.

import { avalanche, FNV_OFFSET, FNV_PRIME } from './hash';

let permCount: i32 = 0;
let permMul: usize = 0; // u64 x permCount, odd
let permAdd: usize = 0; // u64 x permCount

// splitmix64: deterministic permutation parameters from a seed.
let mixState: u64 = 0;
function splitmix(): u64 {
  mixState += 0x9e3779b97f4a7c15;
  let z = mixState;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

/** Sets the number of permutations and their seed (the same seed gives the same signatures). */
export function minhashConfigure(numPerm: i32, seed: u64): void {
  if (permMul) {
    heap.free(permMul);
    heap.free(permAdd);
  }
  permCount = numPerm;
  permMul = heap.alloc(<usize>numPerm << 3);
  permAdd = heap.alloc(<usize>numPerm << 3);
  mixState = seed;
  for (let i = 0; i < numPerm; i++) {
    store<u64>(permMul + (<usize>i << 3), splitmix() | 1);
    store<u64>(permAdd + (<usize>i << 3), splitmix());
  }
}

const MAX_SHINGLE = 32;
const window = new StaticArray<u64>(MAX_SHINGLE);

@inline
function foldShingle(first: i32, size: i32): u64 {
  let h: u64 = <u64>size;
  for (let k = 0; k < size; k++) h = (h ^ unchecked(window[(first + k) % MAX_SHINGLE])) * FNV_PRIME;
  return avalanche(h);
}

@inline
function addShingle(h: u64, sig: usize): void {
  for (let i = 0; i < permCount; i++) {
    const v = <u32>((load<u64>(permMul + (<usize>i << 3)) * h + load<u64>(permAdd + (<usize>i << 3))) >> 32);
    const at = sig + (<usize>i << 2);
    if (v < load<u32>(at)) store<u32>(at, v);
  }
}

/**
 * Writes the MinHash signature (u32 x numPerm) of the document at `p` to `sig`, over shingles of
 * `shingleSize` consecutive words (one shingle of all words when there are fewer). Returns the
 * number of shingles; 0 for a document without words (its signature is all 0xFFFFFFFF).
 */
export function minhashSignature(p: usize, len: i32, shingleSize: i32, sig: usize): i32 {
  memory.fill(sig, 0xff, <usize>permCount << 2);
  const end = p + <usize>len;
  let words: i32 = 0;
  let shingles: i32 = 0;
  let h = FNV_OFFSET;
  let wordBytes = 0;
  for (let q = p; q <= end; q++) {
    const b: u32 = q < end ? <u32>load<u8>(q) : 0x20;
    if (b == 0x20 || (b >= 0x09 && b <= 0x0d)) {
      if (wordBytes > 0) {
        unchecked((window[words % MAX_SHINGLE] = avalanche(h)));
        words++;
        if (words >= shingleSize) {
          addShingle(foldShingle(words - shingleSize, shingleSize), sig);
          shingles++;
        }
      }
      h = FNV_OFFSET;
      wordBytes = 0;
      continue;
    }
    // Keep letters, digits and non-ASCII bytes; drop ASCII punctuation.
    let c = <u64>b;
    if (c < 0x80) {
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a))) continue;
    }
    h = (h ^ c) * FNV_PRIME;
    wordBytes++;
  }
  if (shingles == 0 && words > 0) {
    addShingle(foldShingle(0, words), sig);
    shingles = 1;
  }
  return shingles;
}

/**
 * Writes one key per band (f64 integers below 2^53, so they are exact JavaScript numbers) for the
 * signature at `sig` split into `bands` bands of numPerm / bands rows.
 */
export function minhashBandKeys(sig: usize, bands: i32, out: usize): void {
  const rows = permCount / bands;
  for (let b = 0; b < bands; b++) {
    let h: u64 = FNV_OFFSET ^ <u64>b;
    for (let r = 0; r < rows; r++) h = (h ^ <u64>load<u32>(sig + (<usize>(b * rows + r) << 2))) * FNV_PRIME;
    store<f64>(out + (<usize>b << 3), <f64>(avalanche(h) >> 11));
  }
}
