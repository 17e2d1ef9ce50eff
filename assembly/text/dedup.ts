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

// Shingle hashes of the current document, gathered first so that each permutation then runs
// as one tight loop with its minimum in a register.
let shingleHashes: usize = 0;
let shingleCapacity: i32 = 0;

@inline
function pushShingle(count: i32, h: u64): void {
  if (count == shingleCapacity) {
    shingleCapacity = max(shingleCapacity * 2, 4096);
    const bytes = <usize>shingleCapacity << 3;
    shingleHashes = shingleHashes ? heap.realloc(shingleHashes, bytes) : heap.alloc(bytes);
  }
  store<u64>(shingleHashes + (<usize>count << 3), h);
}

function signatureOf(count: i32, sig: usize): void {
  const end = shingleHashes + (<usize>count << 3);
  let i = 0;
  // Four permutations per sweep: four independent minima keep the CPU's multipliers busy.
  for (; i + 4 <= permCount; i += 4) {
    const at = <usize>i << 3;
    const a0 = load<u64>(permMul + at), a1 = load<u64>(permMul + at + 8), a2 = load<u64>(permMul + at + 16), a3 = load<u64>(permMul + at + 24);
    const b0 = load<u64>(permAdd + at), b1 = load<u64>(permAdd + at + 8), b2 = load<u64>(permAdd + at + 16), b3 = load<u64>(permAdd + at + 24);
    let m0: u64 = 0xffffffff, m1: u64 = 0xffffffff, m2: u64 = 0xffffffff, m3: u64 = 0xffffffff;
    for (let p = shingleHashes; p < end; p += 8) {
      const h = load<u64>(p);
      m0 = min(m0, (a0 * h + b0) >> 32);
      m1 = min(m1, (a1 * h + b1) >> 32);
      m2 = min(m2, (a2 * h + b2) >> 32);
      m3 = min(m3, (a3 * h + b3) >> 32);
    }
    store<u32>(sig + (<usize>i << 2), <u32>m0);
    store<u32>(sig + (<usize>i << 2) + 4, <u32>m1);
    store<u32>(sig + (<usize>i << 2) + 8, <u32>m2);
    store<u32>(sig + (<usize>i << 2) + 12, <u32>m3);
  }
  for (; i < permCount; i++) {
    const a = load<u64>(permMul + (<usize>i << 3));
    const b = load<u64>(permAdd + (<usize>i << 3));
    let least: u64 = 0xffffffff;
    for (let p = shingleHashes; p < end; p += 8) least = min(least, (a * load<u64>(p) + b) >> 32);
    store<u32>(sig + (<usize>i << 2), <u32>least);
  }
}

/**
 * Writes the MinHash signature (u32 x numPerm) of the document at `p` to `sig`, over shingles of
 * `shingleSize` consecutive words (one shingle of all words when there are fewer). Returns the
 * number of shingles; 0 for a document without words (its signature is all 0xFFFFFFFF).
 */
export function minhashSignature(p: usize, len: i32, shingleSize: i32, sig: usize): i32 {
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
          pushShingle(shingles, foldShingle(words - shingleSize, shingleSize));
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
    pushShingle(0, foldShingle(0, words));
    shingles = 1;
  }
  signatureOf(shingles, sig);
  return shingles;
}

/** Writes one 64-bit key per band (the band's index mixed in) for the signature at `sig`, split into `bands` bands of numPerm / bands rows. */
export function minhashBandKeys(sig: usize, bands: i32, out: usize): void {
  const rows = permCount / bands;
  for (let b = 0; b < bands; b++) {
    let h: u64 = FNV_OFFSET ^ <u64>b;
    for (let r = 0; r < rows; r++) h = (h ^ <u64>load<u32>(sig + (<usize>(b * rows + r) << 2))) * FNV_PRIME;
    store<u64>(out + (<usize>b << 3), avalanche(h));
  }
}

/**
 * LSH buckets of all bands in one open-addressing table: band key -> the first document that
 * had it. 12 bytes a slot, at most half full.
 */
class LshIndex {
  keys: usize = 0; // u64, 0 = empty
  ids: usize = 0; // i32
  mask: u32 = 0;
  size: u32 = 0;

  constructor(log2Capacity: i32) {
    this.allocate(<u32>1 << <u32>log2Capacity);
  }

  private allocate(capacity: u32): void {
    this.keys = heap.alloc(<usize>capacity << 3);
    this.ids = heap.alloc(<usize>capacity << 2);
    memory.fill(this.keys, 0, <usize>capacity << 3);
    this.mask = capacity - 1;
    this.size = 0;
  }

  @inline
  private slotOf(key: u64): u32 {
    let i = <u32>key & this.mask;
    while (true) {
      const k = load<u64>(this.keys + (<usize>i << 3));
      if (k == key || k == 0) return i;
      i = (i + 1) & this.mask;
    }
  }

  get(key: u64): i32 {
    if (key == 0) key = 1;
    const i = this.slotOf(key);
    return load<u64>(this.keys + (<usize>i << 3)) == 0 ? -1 : load<i32>(this.ids + (<usize>i << 2));
  }

  putIfAbsent(key: u64, id: i32): void {
    if (key == 0) key = 1;
    const i = this.slotOf(key);
    if (load<u64>(this.keys + (<usize>i << 3)) != 0) return;
    store<u64>(this.keys + (<usize>i << 3), key);
    store<i32>(this.ids + (<usize>i << 2), id);
    if (++this.size * 2 > this.mask) this.grow();
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldIds = this.ids;
    const oldCapacity = this.mask + 1;
    this.allocate(oldCapacity * 2);
    for (let i: u32 = 0; i < oldCapacity; i++) {
      const k = load<u64>(oldKeys + (<usize>i << 3));
      if (k != 0) this.putIfAbsent(k, load<i32>(oldIds + (<usize>i << 2)));
    }
    heap.free(oldKeys);
    heap.free(oldIds);
  }

  free(): void {
    heap.free(this.keys);
    heap.free(this.ids);
  }
}

// Indexes handed to TypeScript by number, so the GC keeps them alive while in use.
const indexes = new Array<LshIndex | null>();

export function lshNew(): i32 {
  for (let i = 0; i < indexes.length; i++) {
    if (indexes[i] === null) {
      indexes[i] = new LshIndex(12);
      return i;
    }
  }
  indexes.push(new LshIndex(12));
  return indexes.length - 1;
}

/** For each of the `count` keys at `keys`, the document in its bucket or -1, written to `out` (i32). */
export function lshLookup(handle: i32, keys: usize, count: i32, out: usize): void {
  const index = indexes[handle]!;
  for (let b = 0; b < count; b++) store<i32>(out + (<usize>b << 2), index.get(load<u64>(keys + (<usize>b << 3))));
}

/** Puts document `id` in the buckets of the `count` keys at `keys` that are still empty. */
export function lshInsert(handle: i32, keys: usize, count: i32, id: i32): void {
  const index = indexes[handle]!;
  for (let b = 0; b < count; b++) index.putIfAbsent(load<u64>(keys + (<usize>b << 3)), id);
}

export function lshFree(handle: i32): void {
  indexes[handle]!.free();
  indexes[handle] = null;
}
