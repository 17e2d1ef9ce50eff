// Byte-level BPE encoding and decoding. A model is a vocabulary (id -> bytes) and ranked merges
// (pair of ids -> merged id). Encoding pre-tokenises with GPT-2's pattern, then merges each
// pre-token's bytes lowest rank first; results for repeated pre-tokens come from a cache.
import { gpt2PretokenEnd } from './gpt2_pretokenize';
import { reserveOutput, growOutput } from './memory';
import { U32List, hashByteString, hashU64 } from './buffers';

const EMPTY: u64 = 0xffffffffffffffff;
const NO_RANK: u32 = 0xffffffff;
// Pre-tokens longer than this are merged but not cached (rare, and would crowd the cache).
const MAX_CACHED_BYTES: i32 = 128;
// The cache is emptied when it holds this many pre-tokens, bounding memory on huge inputs.
const MAX_CACHE_ENTRIES: i32 = 1 << 19;

/** A growable min-heap of u64 (unmanaged). */
class U64Heap {
  ptr: usize = heap.alloc(64 << 3);
  capacity: i32 = 64;
  length: i32 = 0;
  dispose(): void {
    heap.free(this.ptr);
  }
}

function heapPush(h: U64Heap, v: u64): void {
  if (h.length == h.capacity) {
    h.capacity *= 2;
    h.ptr = heap.realloc(h.ptr, <usize>h.capacity << 3);
  }
  let i = h.length++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pv = load<u64>(h.ptr + (<usize>parent << 3));
    if (pv <= v) break;
    store<u64>(h.ptr + (<usize>i << 3), pv);
    i = parent;
  }
  store<u64>(h.ptr + (<usize>i << 3), v);
}

function heapPop(h: U64Heap): u64 {
  const top = load<u64>(h.ptr);
  const n = --h.length;
  if (n == 0) return top;
  const v = load<u64>(h.ptr + (<usize>n << 3));
  let i = 0;
  while (true) {
    let child = 2 * i + 1;
    if (child >= n) break;
    let cv = load<u64>(h.ptr + (<usize>child << 3));
    if (child + 1 < n) {
      const rv = load<u64>(h.ptr + (<usize>(child + 1) << 3));
      if (rv < cv) {
        child++;
        cv = rv;
      }
    }
    if (v <= cv) break;
    store<u64>(h.ptr + (<usize>i << 3), cv);
    i = child;
  }
  store<u64>(h.ptr + (<usize>i << 3), v);
  return top;
}

class BpeModel {
  vocabSize: i32;
  tokenOffsets: StaticArray<u32>;
  tokenBytes: StaticArray<u8>;
  byteIds: StaticArray<i32> = new StaticArray<i32>(256);

  // Merges: open addressing on (left << 32 | right) -> (rank << 32 | merged id).
  mergeKeys: StaticArray<u64> = new StaticArray<u64>(0);
  mergeValues: StaticArray<u64> = new StaticArray<u64>(0);
  mergeMask: u32 = 0;

  // Pre-token cache: slots hold entry index + 1 (0 = empty); entries point into the byte and id stores.
  cacheSlots: StaticArray<i32> = new StaticArray<i32>(MAX_CACHE_ENTRIES * 2);
  cacheHash: StaticArray<u32> = new StaticArray<u32>(MAX_CACHE_ENTRIES);
  cacheKeyStart: StaticArray<u32> = new StaticArray<u32>(MAX_CACHE_ENTRIES);
  cacheKeyLength: StaticArray<u32> = new StaticArray<u32>(MAX_CACHE_ENTRIES);
  cacheIdStart: StaticArray<u32> = new StaticArray<u32>(MAX_CACHE_ENTRIES);
  cacheIdLength: StaticArray<u32> = new StaticArray<u32>(MAX_CACHE_ENTRIES);
  cacheEntries: i32 = 0;
  cacheKeys: U32List = new U32List(); // bytes, stored 4 per u32 slot
  cacheIds: U32List = new U32List();

  // Scratch for the merge loop.
  partIds: U32List = new U32List();
  partRanks: U32List = new U32List();
  partPrev: U32List = new U32List();
  mergeHeap: U64Heap = new U64Heap();

  constructor(vocabSize: i32, bytesPtr: usize, offsetsPtr: usize) {
    this.vocabSize = vocabSize;
    const offsets = new StaticArray<u32>(vocabSize + 1);
    memory.copy(changetype<usize>(offsets), offsetsPtr, <usize>(vocabSize + 1) << 2);
    const total = unchecked(offsets[vocabSize]);
    const tokenBytes = new StaticArray<u8>(total);
    memory.copy(changetype<usize>(tokenBytes), bytesPtr, total);
    this.tokenOffsets = offsets;
    this.tokenBytes = tokenBytes;
    for (let b = 0; b < 256; b++) unchecked((this.byteIds[b] = -1));
    for (let id = 0; id < vocabSize; id++) {
      const start = unchecked(this.tokenOffsets[id]);
      if (unchecked(this.tokenOffsets[id + 1]) - start == 1) {
        const b = unchecked(this.tokenBytes[start]);
        if (unchecked(this.byteIds[b]) < 0) unchecked((this.byteIds[b] = id));
      }
    }
  }

  /** Number of byte values with no single-byte token (a byte-level vocabulary has none). */
  missingBytes(): i32 {
    let n = 0;
    for (let b = 0; b < 256; b++) if (unchecked(this.byteIds[b]) < 0) n++;
    return n;
  }

  /** Sets the merges from `count` triples (left, right, merged); rank = position. Later duplicates lose. */
  setMerges(triples: usize, count: i32): void {
    let capacity: u32 = 16;
    while (capacity < <u32>count * 2) capacity <<= 1;
    this.mergeKeys = new StaticArray<u64>(capacity);
    this.mergeValues = new StaticArray<u64>(capacity);
    this.mergeMask = capacity - 1;
    for (let i: u32 = 0; i < capacity; i++) unchecked((this.mergeKeys[i] = EMPTY));
    for (let r = 0; r < count; r++) {
      const p = triples + (<usize>r * 12);
      const key = (<u64>load<u32>(p) << 32) | <u64>load<u32>(p, 4);
      let slot = hashU64(key) & this.mergeMask;
      while (true) {
        const k = unchecked(this.mergeKeys[slot]);
        if (k == key) break;
        if (k == EMPTY) {
          unchecked((this.mergeKeys[slot] = key));
          unchecked((this.mergeValues[slot] = (<u64>r << 32) | <u64>load<u32>(p, 8)));
          break;
        }
        slot = (slot + 1) & this.mergeMask;
      }
    }
    this.clearCache();
  }

  // @ts-ignore: decorator
  @inline
  mergeOf(left: u32, right: u32): u64 {
    const key = (<u64>left << 32) | <u64>right;
    let slot = hashU64(key) & this.mergeMask;
    while (true) {
      const k = unchecked(this.mergeKeys[slot]);
      if (k == key) return unchecked(this.mergeValues[slot]);
      if (k == EMPTY) return EMPTY;
      slot = (slot + 1) & this.mergeMask;
    }
  }

  clearCache(): void {
    const slots = this.cacheSlots;
    memory.fill(changetype<usize>(slots), 0, <usize>slots.length << 2);
    this.cacheEntries = 0;
    this.cacheKeys.length = 0;
    this.cacheIds.length = 0;
  }

  /** BPE of the bytes [p, p+len) appended to `out` at index `n`; returns the new count. */
  mergeBytes(p: usize, len: i32, out: usize, n: i32): i32 {
    const ids = this.partIds;
    const ranks = this.partRanks;
    ids.ensure(len);
    ranks.ensure(len);
    const idp = ids.ptr;
    const rkp = ranks.ptr;
    for (let i = 0; i < len; i++) store<u32>(idp + (<usize>i << 2), <u32>unchecked(this.byteIds[load<u8>(p + i)]));
    let parts = len;
    for (let i = 0; i + 1 < parts; i++) {
      const m = this.mergeOf(load<u32>(idp + (<usize>i << 2)), load<u32>(idp + (<usize>(i + 1) << 2)));
      store<u32>(rkp + (<usize>i << 2), <u32>(m >> 32));
    }
    while (parts > 1) {
      let best = NO_RANK;
      let at = -1;
      for (let i = 0; i + 1 < parts; i++) {
        const r = load<u32>(rkp + (<usize>i << 2));
        if (r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      const merged = <u32>this.mergeOf(load<u32>(idp + (<usize>at << 2)), load<u32>(idp + (<usize>(at + 1) << 2)));
      store<u32>(idp + (<usize>at << 2), merged);
      // Drop part at+1 and the rank of pair (at, at+1).
      const tail = parts - at - 2;
      if (tail > 0) {
        memory.copy(idp + (<usize>(at + 1) << 2), idp + (<usize>(at + 2) << 2), <usize>tail << 2);
        memory.copy(rkp + (<usize>(at + 1) << 2), rkp + (<usize>(at + 2) << 2), <usize>(tail - 1) << 2);
      }
      parts--;
      if (at > 0) {
        const m = this.mergeOf(load<u32>(idp + (<usize>(at - 1) << 2)), merged);
        store<u32>(rkp + (<usize>(at - 1) << 2), <u32>(m >> 32));
      }
      if (at + 1 < parts) {
        const m = this.mergeOf(merged, load<u32>(idp + (<usize>(at + 1) << 2)));
        store<u32>(rkp + (<usize>at << 2), <u32>(m >> 32));
      }
    }
    memory.copy(out + (<usize>n << 2), idp, <usize>parts << 2);
    return n + parts;
  }

  /**
   * BPE of a long pre-token in O(n log n): parts in a linked list, candidate pairs in a min-heap of
   * (rank, position), checked against the current parts when they surface. Same result as mergeBytes
   * (lowest rank first, leftmost first among equal ranks).
   */
  mergeBytesLong(p: usize, len: i32, out: usize, n: i32): i32 {
    const ids = this.partIds;
    const links = this.partRanks; // next index per part (len = none)
    const heap = this.mergeHeap;
    ids.ensure(len);
    links.ensure(len);
    heap.length = 0;
    const idp = ids.ptr;
    const nxp = links.ptr;
    for (let i = 0; i < len; i++) {
      store<u32>(idp + (<usize>i << 2), <u32>unchecked(this.byteIds[load<u8>(p + i)]));
      store<u32>(nxp + (<usize>i << 2), i + 1);
    }
    // Previous index per part (len = none); NO_RANK marks a part merged into its left neighbour.
    const prevs = this.partPrev;
    prevs.ensure(len);
    const pvp = prevs.ptr;
    for (let i = 0; i < len; i++) store<u32>(pvp + (<usize>i << 2), i == 0 ? len : i - 1);
    for (let i = 0; i + 1 < len; i++) {
      const m = this.mergeOf(load<u32>(idp + (<usize>i << 2)), load<u32>(idp + (<usize>(i + 1) << 2)));
      if (m != EMPTY) heapPush(heap, (m & 0xffffffff00000000) | <u64>i);
    }
    while (heap.length > 0) {
      const top = heapPop(heap);
      const rank = <u32>(top >> 32);
      const at = <u32>top;
      if (load<u32>(pvp + (<usize>at << 2)) == NO_RANK) continue; // merged away
      const next = load<u32>(nxp + (<usize>at << 2));
      if (next >= <u32>len) continue;
      const m = this.mergeOf(load<u32>(idp + (<usize>at << 2)), load<u32>(idp + (<usize>next << 2)));
      if (m == EMPTY || <u32>(m >> 32) != rank) continue; // stale entry
      store<u32>(idp + (<usize>at << 2), <u32>m);
      const after = load<u32>(nxp + (<usize>next << 2));
      store<u32>(nxp + (<usize>at << 2), after);
      store<u32>(pvp + (<usize>next << 2), NO_RANK);
      if (after < <u32>len) store<u32>(pvp + (<usize>after << 2), at);
      const before = load<u32>(pvp + (<usize>at << 2));
      if (before < <u32>len) {
        const mb = this.mergeOf(load<u32>(idp + (<usize>before << 2)), <u32>m);
        if (mb != EMPTY) heapPush(heap, (mb & 0xffffffff00000000) | <u64>before);
      }
      if (after < <u32>len) {
        const ma = this.mergeOf(<u32>m, load<u32>(idp + (<usize>after << 2)));
        if (ma != EMPTY) heapPush(heap, (ma & 0xffffffff00000000) | <u64>at);
      }
    }
    let i: u32 = 0;
    while (i < <u32>len) {
      store<u32>(out + (<usize>n << 2), load<u32>(idp + (<usize>i << 2)));
      n++;
      i = load<u32>(nxp + (<usize>i << 2));
    }
    return n;
  }

  /** Ids of one pre-token, through the cache. */
  encodePiece(p: usize, len: i32, out: usize, n: i32): i32 {
    if (len == 1) {
      store<u32>(out + (<usize>n << 2), <u32>unchecked(this.byteIds[load<u8>(p)]));
      return n + 1;
    }
    if (len > MAX_CACHED_BYTES) return this.mergeBytesLong(p, len, out, n);
    const h = hashByteString(p, len);
    const slots = this.cacheSlots;
    const mask = slots.length - 1;
    let slot = h & mask;
    while (true) {
      const e = unchecked(slots[slot]) - 1;
      if (e < 0) break;
      if (unchecked(this.cacheHash[e]) == h && unchecked(this.cacheKeyLength[e]) == <u32>len &&
          memory.compare(this.cacheKeys.ptr + unchecked(this.cacheKeyStart[e]), p, len) == 0) {
        const count = unchecked(this.cacheIdLength[e]);
        memory.copy(out + (<usize>n << 2), this.cacheIds.ptr + (<usize>unchecked(this.cacheIdStart[e]) << 2), <usize>count << 2);
        return n + count;
      }
      slot = (slot + 1) & mask;
    }
    const end = this.mergeBytes(p, len, out, n);
    if (this.cacheEntries == MAX_CACHE_ENTRIES) {
      this.clearCache();
      slot = h & mask;
    }
    const e = this.cacheEntries++;
    unchecked((slots[slot] = e + 1));
    unchecked((this.cacheHash[e] = h));
    const keys = this.cacheKeys;
    const words = (len + 3) >> 2;
    keys.ensure(words);
    unchecked((this.cacheKeyStart[e] = <u32>keys.length << 2));
    unchecked((this.cacheKeyLength[e] = len));
    memory.copy(keys.ptr + (<usize>keys.length << 2), p, len);
    keys.length += words;
    const ids = this.cacheIds;
    const count = end - n;
    ids.ensure(count);
    unchecked((this.cacheIdStart[e] = ids.length));
    unchecked((this.cacheIdLength[e] = count));
    memory.copy(ids.ptr + (<usize>ids.length << 2), out + (<usize>n << 2), <usize>count << 2);
    ids.length += count;
    return end;
  }

  /** Ids of the UTF-8 text [p, p+len) into the output buffer; returns how many. */
  encode(p: usize, len: i32): i32 {
    const out = reserveOutput(<usize>max(len, 1) << 2);
    const end = p + len;
    let n = 0;
    while (p < end) {
      const q = gpt2PretokenEnd(p, end);
      n = this.encodePiece(p, <i32>(q - p), out, n);
      p = q;
    }
    return n;
  }

  /** Bytes of `count` ids at `ids` into the output buffer; returns the length, or -1 - index of a bad id. */
  decode(ids: usize, count: i32): i32 {
    let capacity = <usize>count * 8 + 16;
    let out = reserveOutput(capacity);
    let n: usize = 0;
    for (let i = 0; i < count; i++) {
      const id = load<u32>(ids + (<usize>i << 2));
      if (id >= <u32>this.vocabSize) return -1 - i;
      const start = unchecked(this.tokenOffsets[id]);
      const len = <usize>(unchecked(this.tokenOffsets[id + 1]) - start);
      if (n + len > capacity) {
        capacity = max(capacity * 2, n + len);
        out = growOutput(capacity);
      }
      memory.copy(out + n, changetype<usize>(this.tokenBytes) + start, len);
      n += len;
    }
    return <i32>n;
  }
}

const models = new Array<BpeModel | null>();

function model(handle: i32): BpeModel {
  return changetype<BpeModel>(models[handle]);
}

/** A model from `vocabSize` tokens: token i is bytes [offsets[i], offsets[i+1]) of `bytes`. */
export function bpeCreate(vocabSize: i32, bytes: usize, offsets: usize): i32 {
  models.push(new BpeModel(vocabSize, bytes, offsets));
  return models.length - 1;
}

export function bpeMissingBytes(handle: i32): i32 {
  return model(handle).missingBytes();
}

/** Merges as `count` (left, right, merged) u32 triples in rank order. */
export function bpeSetMerges(handle: i32, triples: usize, count: i32): void {
  model(handle).setMerges(triples, count);
}

export function bpeEncode(handle: i32, text: usize, len: i32): i32 {
  return model(handle).encode(text, len);
}

export function bpeDecode(handle: i32, ids: usize, count: i32): i32 {
  return model(handle).decode(ids, count);
}

export function bpeDispose(handle: i32): void {
  const m = models[handle];
  if (m) {
    m.cacheKeys.dispose();
    m.cacheIds.dispose();
    m.partIds.dispose();
    m.partRanks.dispose();
    m.partPrev.dispose();
    m.mergeHeap.dispose();
  }
  models[handle] = null;
}
