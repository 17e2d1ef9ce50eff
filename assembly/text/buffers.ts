// Growable unmanaged arrays for the tokenizer tables (no GC traffic, no bounds checks in hot loops).

export class U32List {
  ptr: usize = heap.alloc(64 << 2);
  capacity: i32 = 64;
  length: i32 = 0;

  ensure(extra: i32): void {
    if (this.length + extra > this.capacity) {
      this.capacity = max(this.length + extra, this.capacity * 2);
      this.ptr = heap.realloc(this.ptr, <usize>this.capacity << 2);
    }
  }

  // @ts-ignore: decorator
  @inline
  get(i: i32): u32 {
    return load<u32>(this.ptr + (<usize>i << 2));
  }

  // @ts-ignore: decorator
  @inline
  set(i: i32, v: u32): void {
    store<u32>(this.ptr + (<usize>i << 2), v);
  }

  push(v: u32): i32 {
    this.ensure(1);
    store<u32>(this.ptr + (<usize>this.length << 2), v);
    return this.length++;
  }

  /** Appends `len` bytes, padded to whole u32 slots; returns the byte offset of the copy. */
  pushBytes(p: usize, len: i32): u32 {
    const words = (len + 3) >> 2;
    this.ensure(words);
    const at = <u32>this.length << 2;
    memory.copy(this.ptr + at, p, len);
    this.length += words;
    return at;
  }

  dispose(): void {
    heap.free(this.ptr);
  }
}

export class U64List {
  ptr: usize = heap.alloc(64 << 3);
  capacity: i32 = 64;
  length: i32 = 0;

  ensure(extra: i32): void {
    if (this.length + extra > this.capacity) {
      this.capacity = max(this.length + extra, this.capacity * 2);
      this.ptr = heap.realloc(this.ptr, <usize>this.capacity << 3);
    }
  }

  // @ts-ignore: decorator
  @inline
  get(i: i32): u64 {
    return load<u64>(this.ptr + (<usize>i << 3));
  }

  // @ts-ignore: decorator
  @inline
  set(i: i32, v: u64): void {
    store<u64>(this.ptr + (<usize>i << 3), v);
  }

  push(v: u64): i32 {
    this.ensure(1);
    store<u64>(this.ptr + (<usize>this.length << 3), v);
    return this.length++;
  }

  dispose(): void {
    heap.free(this.ptr);
  }
}

/** FNV-style hash of bytes, 4 at a time. */
// @ts-ignore: decorator
@inline
export function hashByteString(p: usize, len: i32): u32 {
  let h: u32 = 0x811c9dc5 ^ <u32>len;
  let i = 0;
  for (; i + 4 <= len; i += 4) h = (h ^ load<u32>(p + i)) * 0x01000193 + (h >>> 15);
  for (; i < len; i++) h = (h ^ <u32>load<u8>(p + i)) * 0x01000193;
  return h ^ (h >>> 16);
}

// @ts-ignore: decorator
@inline
export function hashU64(key: u64): u32 {
  return <u32>((key * 0x9e3779b97f4a7c15) >> 32);
}

/**
 * A set of byte strings (each with a u32 tag folded into its identity), numbering them 0, 1, 2...
 * in insertion order. Used for word counts, token identity and vocabularies.
 */
export class ByteStringTable {
  slots: StaticArray<i32> = new StaticArray<i32>(1024); // entry + 1, 0 = empty
  hashes: U32List = new U32List();
  starts: U32List = new U32List();
  lengths: U32List = new U32List();
  tags: U32List = new U32List();
  bytes: U32List = new U32List();

  get size(): i32 {
    return this.hashes.length;
  }

  // @ts-ignore: decorator
  @inline
  bytesOf(e: i32): usize {
    return this.bytes.ptr + this.starts.get(e);
  }

  /** Entry of (tag, bytes), or -1. */
  find(p: usize, len: i32, tag: u32): i32 {
    const h = hashByteString(p, len) ^ (tag * 0x85ebca6b);
    return this.findHashed(p, len, tag, h, false);
  }

  /** Entry of (tag, bytes), added if new. */
  intern(p: usize, len: i32, tag: u32): i32 {
    const h = hashByteString(p, len) ^ (tag * 0x85ebca6b);
    return this.findHashed(p, len, tag, h, true);
  }

  private findHashed(p: usize, len: i32, tag: u32, h: u32, add: bool): i32 {
    let slots = this.slots;
    let mask = slots.length - 1;
    let slot = <i32>h & mask;
    while (true) {
      const e = unchecked(slots[slot]) - 1;
      if (e < 0) break;
      if (this.hashes.get(e) == h && this.lengths.get(e) == <u32>len && this.tags.get(e) == tag &&
          memory.compare(this.bytesOf(e), p, len) == 0) return e;
      slot = (slot + 1) & mask;
    }
    if (!add) return -1;
    const e = this.hashes.push(h);
    this.lengths.push(len);
    this.tags.push(tag);
    this.starts.push(this.bytes.pushBytes(p, len));
    unchecked((slots[slot] = e + 1));
    if ((e + 1) * 2 > slots.length) this.rehash(slots.length * 2);
    return e;
  }

  private rehash(capacity: i32): void {
    const slots = new StaticArray<i32>(capacity);
    const mask = capacity - 1;
    const n = this.hashes.length;
    for (let e = 0; e < n; e++) {
      let slot = <i32>this.hashes.get(e) & mask;
      while (unchecked(slots[slot]) != 0) slot = (slot + 1) & mask;
      unchecked((slots[slot] = e + 1));
    }
    this.slots = slots;
  }

  dispose(): void {
    this.hashes.dispose();
    this.starts.dispose();
    this.lengths.dispose();
    this.tags.dispose();
    this.bytes.dispose();
  }
}
