// Vocabulary: word bytes -> dense id. Ids 0, 1, 2 are <unk>, <s>, </s> as in KenLM, so that
// lmplz's ARPA order (by id, in order of first appearance) falls out of the numbering.
import { Buf, mix32, tableSizeFor } from './buffer';

export const UNK: u32 = 0;
export const BOS: u32 = 1;
export const EOS: u32 = 2;

/** Bytes lmplz splits training text on: NUL, tab, LF, CR, space (corpus_count.cc). */
const CORPUS_SPACES = memory.data<u8>([
  1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
]);

/** Bytes KenLM's query and ARPA reader split on: tab, LF, VT, FF, CR, space (util::kSpaces). */
const SPACES = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
]);

@inline export function isCorpusSpace(b: u32): bool {
  return b <= 32 && load<u8>(CORPUS_SPACES + <usize>b) != 0;
}

@inline export function isSpace(b: u32): bool {
  return b <= 32 && load<u8>(SPACES + <usize>b) != 0;
}

export class Vocab {
  text: Buf = new Buf();
  /** Per id: byte offset into text, byte length, hash. */
  offsets: Buf = new Buf();
  lengths: Buf = new Buf();
  hashes: Buf = new Buf();
  /** Open-addressing table of id + 1 (0 = empty). */
  slots: usize = 0;
  mask: u32 = 0;
  size: u32 = 0;
  /** Longest word, in bytes. */
  maxLength: u32 = 0;

  constructor() {
    const cap = tableSizeFor(1024);
    this.slots = heap.alloc(cap << 2);
    memory.fill(this.slots, 0, cap << 2);
    this.mask = <u32>cap - 1;
    this.internAscii('<unk>');
    this.internAscii('<s>');
    this.internAscii('</s>');
  }

  internAscii(s: string): u32 {
    const tmp = heap.alloc(<usize>s.length);
    for (let i = 0; i < s.length; i++) store<u8>(tmp + <usize>i, <u8>s.charCodeAt(i));
    const id = this.intern(tmp, <u32>s.length);
    heap.free(tmp);
    return id;
  }

  @inline static hashBytes(p: usize, n: u32): u32 {
    // FNV-1a, then a finalizer so that the low bits used for the slot are well mixed.
    let h: u32 = 0x811c9dc5;
    for (let i: u32 = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + <usize>i)) * 0x01000193;
    return mix32(h);
  }

  @inline wordPtr(id: u32): usize {
    return this.text.ptr + <usize>this.offsets.u32At(id);
  }

  @inline wordLen(id: u32): u32 {
    return this.lengths.u32At(id);
  }

  private equals(id: u32, p: usize, n: u32): bool {
    if (this.lengths.u32At(id) != n) return false;
    return memory.compare(this.wordPtr(id), p, n) == 0;
  }

  /** Id of the word, or -1 when unknown. */
  find(p: usize, n: u32): i32 {
    const h = Vocab.hashBytes(p, n);
    let s = h & this.mask;
    while (true) {
      const e = load<u32>(this.slots + (<usize>s << 2));
      if (e == 0) return -1;
      const id = e - 1;
      if (this.hashes.u32At(id) == h && this.equals(id, p, n)) return <i32>id;
      s = (s + 1) & this.mask;
    }
  }

  intern(p: usize, n: u32): u32 {
    const h = Vocab.hashBytes(p, n);
    let s = h & this.mask;
    while (true) {
      const e = load<u32>(this.slots + (<usize>s << 2));
      if (e == 0) break;
      const id = e - 1;
      if (this.hashes.u32At(id) == h && this.equals(id, p, n)) return id;
      s = (s + 1) & this.mask;
    }
    const id = this.size++;
    this.offsets.pushU32(<u32>this.text.len);
    this.lengths.pushU32(n);
    this.hashes.pushU32(h);
    this.text.pushBytes(p, n);
    if (n > this.maxLength) this.maxLength = n;
    store<u32>(this.slots + (<usize>s << 2), id + 1);
    if (<usize>this.size * 2 > <usize>this.mask) this.grow();
    return id;
  }

  private grow(): void {
    const cap = (<usize>this.mask + 1) << 1;
    heap.free(this.slots);
    this.slots = heap.alloc(cap << 2);
    memory.fill(this.slots, 0, cap << 2);
    this.mask = <u32>cap - 1;
    for (let id: u32 = 0; id < this.size; id++) {
      let s = this.hashes.u32At(id) & this.mask;
      while (load<u32>(this.slots + (<usize>s << 2)) != 0) s = (s + 1) & this.mask;
      store<u32>(this.slots + (<usize>s << 2), id + 1);
    }
  }

  dispose(): void {
    this.text.free();
    this.offsets.free();
    this.lengths.free();
    this.hashes.free();
    heap.free(this.slots);
    this.slots = 0;
  }
}
