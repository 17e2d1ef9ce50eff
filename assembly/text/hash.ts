// 64-bit hashing (XXH64) and a growable set of 64-bit hashes, used by exact de-duplication,
// the quality filters' repeated-line / n-gram counts and MinHash shingles.

const P1: u64 = 0x9e3779b185ebca87;
const P2: u64 = 0xc2b2ae3d27d4eb4f;
const P3: u64 = 0x165667b19e3779f9;
const P4: u64 = 0x85ebca77c2b2ae63;
const P5: u64 = 0x27d4eb2f165667c5;

@inline
function round(acc: u64, input: u64): u64 {
  return rotl<u64>(acc + input * P2, 31) * P1;
}

@inline
function mergeRound(acc: u64, val: u64): u64 {
  return (acc ^ round(0, val)) * P1 + P4;
}

/** XXH64 of `len` bytes at `p`. */
export function xxh64(p: usize, len: i32, seed: u64): u64 {
  const end = p + <usize>len;
  let h: u64;
  if (len >= 32) {
    let v1 = seed + P1 + P2;
    let v2 = seed + P2;
    let v3 = seed;
    let v4 = seed - P1;
    const limit = end - 32;
    do {
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p, 8));
      v3 = round(v3, load<u64>(p, 16));
      v4 = round(v4, load<u64>(p, 24));
      p += 32;
    } while (p <= limit);
    h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = seed + P5;
  }
  h += <u64>len;
  while (p + 8 <= end) {
    h ^= round(0, load<u64>(p));
    h = rotl<u64>(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= <u64>load<u32>(p) * P1;
    h = rotl<u64>(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= <u64>load<u8>(p) * P5;
    h = rotl<u64>(h, 11) * P1;
    p++;
  }
  return avalanche(h);
}

/** XXH64's final mix, also used to spread combined hashes. */
@inline
export function avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

export const FNV_OFFSET: u64 = 0xcbf29ce484222325;
export const FNV_PRIME: u64 = 0x100000001b3;

/** Case-insensitive (ASCII) hash of a word's bytes. */
@inline
export function wordHash(p: usize, n: usize): u64 {
  let h = FNV_OFFSET;
  for (let i: usize = 0; i < n; i++) {
    let b = <u64>load<u8>(p + i);
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = (h ^ b) * FNV_PRIME;
  }
  return avalanche(h);
}

/** Hash of a byte range, exported for tests and the TypeScript side (low and high halves via BigInt). */
export function hashBytes(p: usize, len: i32): u64 {
  return xxh64(p, len, 0);
}

/**
 * Open-addressing set of non-zero 64-bit hashes (0 is stored as 1), doubling at half load.
 * Lives in heap memory so its size is 8 bytes per slot and nothing for the GC to trace.
 */
export class HashSet64 {
  slots: usize = 0;
  mask: u32 = 0;
  size: u32 = 0;

  constructor(log2Capacity: i32) {
    this.allocate(log2Capacity);
  }

  private allocate(log2Capacity: i32): void {
    const capacity = <u32>1 << <u32>log2Capacity;
    this.slots = heap.alloc(<usize>capacity << 3);
    memory.fill(this.slots, 0, <usize>capacity << 3);
    this.mask = capacity - 1;
    this.size = 0;
  }

  /** Adds `key`; true when it was not there before. */
  add(key: u64): bool {
    if (key == 0) key = 1;
    let i = <u32>key & this.mask;
    while (true) {
      const slot = this.slots + (<usize>i << 3);
      const k = load<u64>(slot);
      if (k == key) return false;
      if (k == 0) {
        store<u64>(slot, key);
        this.size++;
        if (this.size * 2 > this.mask) this.grow();
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  has(key: u64): bool {
    if (key == 0) key = 1;
    let i = <u32>key & this.mask;
    while (true) {
      const k = load<u64>(this.slots + (<usize>i << 3));
      if (k == key) return true;
      if (k == 0) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldSlots = this.slots;
    const oldCapacity = this.mask + 1;
    this.allocate(<i32>ctz(oldCapacity) + 1);
    for (let i: u32 = 0; i < oldCapacity; i++) {
      const k = load<u64>(oldSlots + (<usize>i << 3));
      if (k != 0) this.add(k);
    }
    heap.free(oldSlots);
  }

  free(): void {
    heap.free(this.slots);
    this.slots = 0;
  }
}

// Sets handed to TypeScript by index, so the GC keeps them alive while in use.
const sets = new Array<HashSet64 | null>();

/** A set for exact de-duplication; returns its handle. */
export function hashSetNew(log2Capacity: i32): i32 {
  for (let i = 0; i < sets.length; i++) {
    if (sets[i] === null) {
      sets[i] = new HashSet64(log2Capacity);
      return i;
    }
  }
  sets.push(new HashSet64(log2Capacity));
  return sets.length - 1;
}

/** Adds the XXH64 of the bytes; 1 when new, 0 when already present. */
export function hashSetAddBytes(handle: i32, p: usize, len: i32): i32 {
  return sets[handle]!.add(xxh64(p, len, 0)) ? 1 : 0;
}

export function hashSetSize(handle: i32): i32 {
  return <i32>sets[handle]!.size;
}

export function hashSetFree(handle: i32): void {
  sets[handle]!.free();
  sets[handle] = null;
}
