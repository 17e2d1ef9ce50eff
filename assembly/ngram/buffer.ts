// Growable byte buffer in linear memory, used for every variable-length array of the n-gram code
// (word ids, counts, probabilities, text output). Raw memory keeps the hot loops free of bounds checks.

export class Buf {
  ptr: usize = 0;
  /** Bytes in use. */
  len: usize = 0;
  cap: usize = 0;

  ensure(extra: usize): void {
    const need = this.len + extra;
    if (need <= this.cap) return;
    let c: usize = this.cap < 256 ? 256 : this.cap;
    while (c < need) c += c >> 1;
    this.ptr = this.ptr ? heap.realloc(this.ptr, c) : heap.alloc(c);
    this.cap = c;
  }

  /** Makes room for exactly `bytes` in all (sizes known in advance), keeping the contents. */
  reserve(bytes: usize): void {
    if (bytes <= this.cap) return;
    this.ptr = this.ptr ? heap.realloc(this.ptr, bytes) : heap.alloc(bytes);
    this.cap = bytes;
  }

  /** Gives back the growth slack once a buffer is complete. */
  shrinkToFit(): void {
    if (this.ptr == 0 || this.len == this.cap) return;
    if (this.len == 0) {
      this.free();
      return;
    }
    this.ptr = heap.realloc(this.ptr, this.len);
    this.cap = this.len;
  }

  /** Sets the length to exactly `bytes`, allocating without growth slack (sizes known in advance). */
  resize(bytes: usize): void {
    if (bytes > this.cap) {
      this.ptr = this.ptr ? heap.realloc(this.ptr, bytes) : heap.alloc(bytes);
      this.cap = bytes;
    }
    this.len = bytes;
  }

  @inline pushU32(v: u32): void {
    if (this.len + 4 > this.cap) this.ensure(4);
    store<u32>(this.ptr + this.len, v);
    this.len += 4;
  }

  @inline pushByte(b: u32): void {
    if (this.len + 1 > this.cap) this.ensure(1);
    store<u8>(this.ptr + this.len, <u8>b);
    this.len += 1;
  }

  pushBytes(src: usize, n: usize): void {
    this.ensure(n);
    memory.copy(this.ptr + this.len, src, n);
    this.len += n;
  }

  pushAscii(s: string): void {
    const n = s.length;
    this.ensure(<usize>n);
    for (let i = 0; i < n; i++) store<u8>(this.ptr + this.len + <usize>i, <u8>s.charCodeAt(i));
    this.len += <usize>n;
  }

  pushUint(v: u64): void {
    if (v >= 10) this.pushUint(v / 10);
    this.pushByte(48 + <u32>(v % 10));
  }

  @inline u32At(i: usize): u32 {
    return load<u32>(this.ptr + (i << 2));
  }

  @inline setU32(i: usize, v: u32): void {
    store<u32>(this.ptr + (i << 2), v);
  }

  @inline f32At(i: usize): f32 {
    return load<f32>(this.ptr + (i << 2));
  }

  @inline setF32(i: usize, v: f32): void {
    store<f32>(this.ptr + (i << 2), v);
  }

  free(): void {
    if (this.ptr) heap.free(this.ptr);
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
  }
}

/** 32-bit finalizer of MurmurHash3: spreads the bits of word-id sums. */
@inline export function mix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** Hash of `n` consecutive u32 word ids at `p`. */
@inline export function hashWords(p: usize, n: i32): u32 {
  let h: u32 = 0x9747b28c;
  for (let i = 0; i < n; i++) h = mix32(h ^ load<u32>(p + (<usize>i << 2))) + <u32>i;
  return h;
}

@inline export function sameWords(a: usize, b: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    if (load<u32>(a + (<usize>i << 2)) != load<u32>(b + (<usize>i << 2))) return false;
  }
  return true;
}

/** Smallest power of two >= 2 * n (at most half full), and at least 1024. */
export function tableSizeFor(n: usize): usize {
  let c: usize = 1024;
  while (c < n * 2) c <<= 1;
  return c;
}
