// BPE training: count words, then repeatedly merge the most frequent adjacent pair of tokens.
// Ties go to the pair with the smaller (left id, right id), so a run is deterministic. Pair counts
// are kept incrementally (each merge only touches the words that hold the pair) and the best pair
// comes from a max-heap with lazy invalidation, as in Hugging Face's trainer.
// Two alphabets: BYTES (byte-level BPE: the 256 byte values) and CHARS (WordPiece: each character,
// tagged as word-initial or `##` continuation).
import { gpt2PretokenEnd } from './gpt2_pretokenize';
import { utf8Length } from './unicode';
import { ByteStringTable, U32List, U64List, hashU64 } from './buffers';
import { reserveOutput } from './memory';
import { bertWords, wordPointer } from './bert_basic';

// Modes (the host passes the same numbers): bytes for byte-level BPE, characters for WordPiece.
const TRAIN_BYTES: i32 = 0;
const NONE: u32 = 0xffffffff;

// Alphabet sorting needs the table from a comparator, which cannot capture locals.
let sortingTable: ByteStringTable | null = null;

function compareTokens(a: i32, b: i32): i32 {
  const t = changetype<ByteStringTable>(sortingTable);
  const ta = t.tags.get(a);
  const tb = t.tags.get(b);
  if (ta != tb) return ta < tb ? -1 : 1;
  const la = <i32>t.lengths.get(a);
  const lb = <i32>t.lengths.get(b);
  const c = memory.compare(t.bytesOf(a), t.bytesOf(b), min(la, lb));
  return c != 0 ? c : la - lb;
}

class BpeTrainer {
  mode: i32;
  words: ByteStringTable = new ByteStringTable();
  wordCounts: U64List = new U64List();

  // Tokens made by training: entry e is id firstId + e; tag 1 marks WordPiece continuations.
  tokens: ByteStringTable = new ByteStringTable();
  firstId: u32 = 0;

  // Each word's current symbols (token ids), in place; merges shrink wordLength.
  symbols: U32List = new U32List();
  wordStart: U32List = new U32List();
  wordLength: U32List = new U32List();
  wordStamp: U32List = new U32List();

  // Pairs: key (left << 32 | right) -> index; counts; lists of words that may hold them.
  pairSlots: StaticArray<i32> = new StaticArray<i32>(1 << 16);
  pairKeys: U64List = new U64List();
  pairCounts: U64List = new U64List();
  pairHead: U32List = new U32List();
  pairLastWord: U32List = new U32List();
  occurrenceWord: U32List = new U32List();
  occurrenceNext: U32List = new U32List();

  // Max-heap of (count, pair); entries go stale and are checked when they surface.
  heapCounts: U64List = new U64List();
  heapPairs: U32List = new U32List();

  merges: U32List = new U32List(); // (left, right, merged) triples
  touched: U32List = new U32List();
  stamp: u32 = 0;
  scratch: U32List = new U32List();
  joined: U32List = new U32List();

  constructor(mode: i32) {
    this.mode = mode;
  }

  addWord(p: usize, len: i32, count: u64): void {
    if (len <= 0) return;
    const e = this.words.intern(p, len, 0);
    if (e == this.wordCounts.length) this.wordCounts.push(count);
    else this.wordCounts.set(e, this.wordCounts.get(e) + count);
  }

  countText(p: usize, len: i32): void {
    const end = p + len;
    while (p < end) {
      const q = gpt2PretokenEnd(p, end);
      this.addWord(p, <i32>(q - p), 1);
      p = q;
    }
  }

  countBertWords(p: usize, len: i32): void {
    bertWords(p, len, this.scratch, this.joined);
    const words = this.scratch;
    for (let k = 0; k < words.length; k += 2) this.addWord(wordPointer(words.get(k), this.joined), <i32>words.get(k + 1), 1);
  }

  // ---- pairs ----

  pairIndex(left: u32, right: u32, create: bool): i32 {
    const key = (<u64>left << 32) | <u64>right;
    let slots = this.pairSlots;
    const mask = slots.length - 1;
    let slot = <i32>hashU64(key) & mask;
    while (true) {
      const e = unchecked(slots[slot]) - 1;
      if (e < 0) break;
      if (this.pairKeys.get(e) == key) return e;
      slot = (slot + 1) & mask;
    }
    if (!create) return -1;
    const e = this.pairKeys.push(key);
    this.pairCounts.push(0);
    this.pairHead.push(NONE);
    this.pairLastWord.push(NONE);
    unchecked((slots[slot] = e + 1));
    if ((e + 1) * 2 > slots.length) this.rehashPairs(slots.length * 2);
    return e;
  }

  rehashPairs(capacity: i32): void {
    const slots = new StaticArray<i32>(capacity);
    const mask = capacity - 1;
    const n = this.pairKeys.length;
    for (let e = 0; e < n; e++) {
      let slot = <i32>hashU64(this.pairKeys.get(e)) & mask;
      while (unchecked(slots[slot]) != 0) slot = (slot + 1) & mask;
      unchecked((slots[slot] = e + 1));
    }
    this.pairSlots = slots;
  }

  /** Adds `delta` occurrences of (left, right) in word `w` (delta > 0 records the word for the pair). */
  addPair(left: u32, right: u32, w: u32, delta: i64): void {
    const pair = this.pairIndex(left, right, delta > 0);
    if (pair < 0) return;
    this.pairCounts.set(pair, <u64>(<i64>this.pairCounts.get(pair) + delta));
    if (delta > 0) {
      if (this.pairLastWord.get(pair) != w) {
        this.pairLastWord.set(pair, w);
        const node = this.occurrenceWord.push(w);
        this.occurrenceNext.push(this.pairHead.get(pair));
        this.pairHead.set(pair, node);
      }
      this.touched.push(pair);
    }
  }

  // ---- heap ----

  // @ts-ignore: decorator
  @inline
  better(countA: u64, pairA: u32, countB: u64, pairB: u32): bool {
    if (countA != countB) return countA > countB;
    return this.pairKeys.get(pairA) < this.pairKeys.get(pairB);
  }

  heapPush(count: u64, pair: u32): void {
    let i = this.heapCounts.push(count);
    this.heapPairs.push(pair);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pc = this.heapCounts.get(parent);
      const pp = this.heapPairs.get(parent);
      if (!this.better(count, pair, pc, pp)) break;
      this.heapCounts.set(i, pc);
      this.heapPairs.set(i, pp);
      i = parent;
    }
    this.heapCounts.set(i, count);
    this.heapPairs.set(i, pair);
  }

  heapPop(): void {
    const n = this.heapCounts.length - 1;
    const count = this.heapCounts.get(n);
    const pair = this.heapPairs.get(n);
    this.heapCounts.length = n;
    this.heapPairs.length = n;
    if (n == 0) return;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.better(this.heapCounts.get(child + 1), this.heapPairs.get(child + 1), this.heapCounts.get(child), this.heapPairs.get(child))) child++;
      if (!this.better(this.heapCounts.get(child), this.heapPairs.get(child), count, pair)) break;
      this.heapCounts.set(i, this.heapCounts.get(child));
      this.heapPairs.set(i, this.heapPairs.get(child));
      i = child;
    }
    this.heapCounts.set(i, count);
    this.heapPairs.set(i, pair);
  }

  // ---- training ----

  /** Builds the alphabet (ids from `firstId`) and the initial pair counts; returns the alphabet size. */
  init(firstId: u32): i32 {
    this.firstId = firstId;
    const words = this.words;
    const nWords = words.size;
    if (this.mode == TRAIN_BYTES) {
      const b = heap.alloc(1);
      for (let v = 0; v < 256; v++) {
        store<u8>(b, <u8>v);
        this.tokens.intern(b, 1, 0);
      }
      heap.free(b);
    } else {
      // Every character seen, word-initial (tag 0) or continuation (tag 1), sorted.
      const seen = new ByteStringTable();
      for (let w = 0; w < nWords; w++) {
        const p = words.bytesOf(w);
        const len = <i32>words.lengths.get(w);
        let i = 0;
        while (i < len) {
          const cl = min(utf8Length(<u32>load<u8>(p + i)), len - i);
          seen.intern(p + i, cl, i == 0 ? 0 : 1);
          i += cl;
        }
      }
      const order = new Array<i32>(seen.size);
      for (let e = 0; e < seen.size; e++) order[e] = e;
      sortingTable = seen;
      order.sort(compareTokens);
      sortingTable = null;
      for (let k = 0; k < order.length; k++) {
        const e = order[k];
        this.tokens.intern(seen.bytesOf(e), <i32>seen.lengths.get(e), seen.tags.get(e));
      }
      seen.dispose();
    }
    const alphabet = this.tokens.size;

    for (let w = 0; w < nWords; w++) {
      const p = words.bytesOf(w);
      const len = <i32>words.lengths.get(w);
      this.wordStart.push(this.symbols.length);
      let n = 0;
      if (this.mode == TRAIN_BYTES) {
        for (let i = 0; i < len; i++) this.symbols.push(firstId + <u32>load<u8>(p + i));
        n = len;
      } else {
        let i = 0;
        while (i < len) {
          const cl = min(utf8Length(<u32>load<u8>(p + i)), len - i);
          this.symbols.push(firstId + <u32>this.tokens.find(p + i, cl, i == 0 ? 0 : 1));
          i += cl;
          n++;
        }
      }
      this.wordLength.push(n);
      this.wordStamp.push(NONE);
    }
    for (let w = 0; w < nWords; w++) {
      const start = <i32>this.wordStart.get(w);
      const n = <i32>this.wordLength.get(w);
      const count = <i64>this.wordCounts.get(w);
      for (let i = 0; i + 1 < n; i++) this.addPair(this.symbols.get(start + i), this.symbols.get(start + i + 1), w, count);
    }
    this.touched.length = 0;
    const nPairs = this.pairKeys.length;
    for (let pair = 0; pair < nPairs; pair++) this.heapPush(this.pairCounts.get(pair), pair);
    return alphabet;
  }

  /** The best pair still worth merging, or -1. */
  bestPair(minFrequency: u64): i32 {
    while (this.heapCounts.length > 0) {
      const count = this.heapCounts.get(0);
      const pair = this.heapPairs.get(0);
      this.heapPop();
      const current = this.pairCounts.get(pair);
      if (current == count) return count >= minFrequency && count > 0 ? <i32>pair : -1;
      if (current > 0) this.heapPush(current, pair);
    }
    return -1;
  }

  /** Id of the token left+right (WordPiece: the continuation tag of `left`), made if new. */
  mergedToken(left: u32, right: u32): u32 {
    const t = this.tokens;
    const a = <i32>(left - this.firstId);
    const b = <i32>(right - this.firstId);
    const la = <i32>t.lengths.get(a);
    const lb = <i32>t.lengths.get(b);
    const s = this.scratch;
    s.length = 0;
    s.ensure((la + lb + 3) >> 2);
    memory.copy(s.ptr, t.bytesOf(a), la);
    memory.copy(s.ptr + la, t.bytesOf(b), lb);
    return this.firstId + <u32>t.intern(s.ptr, la + lb, t.tags.get(a));
  }

  /** Up to `maxMerges` merges while the vocabulary (firstId + tokens) is below `vocabSize`; returns how many. */
  step(vocabSize: i32, minFrequency: u64, maxMerges: i32): i32 {
    let done = 0;
    while (done < maxMerges && <i32>this.firstId + this.tokens.size < vocabSize) {
      const pair = this.bestPair(minFrequency);
      if (pair < 0) break;
      const key = this.pairKeys.get(pair);
      const left = <u32>(key >> 32);
      const right = <u32>key;
      const merged = this.mergedToken(left, right);
      this.merges.push(left);
      this.merges.push(right);
      this.merges.push(merged);
      this.applyMerge(pair, left, right, merged);
      done++;
    }
    return done;
  }

  applyMerge(pair: i32, left: u32, right: u32, merged: u32): void {
    const stamp = ++this.stamp;
    this.touched.length = 0;
    let node = this.pairHead.get(pair);
    while (node != NONE) {
      const w = this.occurrenceWord.get(node);
      node = this.occurrenceNext.get(node);
      if (this.wordStamp.get(w) == stamp) continue;
      this.wordStamp.set(w, stamp);
      const start = <i32>this.wordStart.get(w);
      let n = <i32>this.wordLength.get(w);
      const count = <i64>this.wordCounts.get(w);
      const sym = this.symbols;
      let i = 0;
      while (i + 1 < n) {
        if (sym.get(start + i) != left || sym.get(start + i + 1) != right) {
          i++;
          continue;
        }
        this.addPair(left, right, w, -count);
        if (i > 0) {
          const prev = sym.get(start + i - 1);
          this.addPair(prev, left, w, -count);
          this.addPair(prev, merged, w, count);
        }
        if (i + 2 < n) {
          const next = sym.get(start + i + 2);
          this.addPair(right, next, w, -count);
          this.addPair(merged, next, w, count);
        }
        sym.set(start + i, merged);
        const tail = n - i - 2;
        if (tail > 0) memory.copy(sym.ptr + (<usize>(start + i + 1) << 2), sym.ptr + (<usize>(start + i + 2) << 2), <usize>tail << 2);
        n--;
        i++;
      }
      this.wordLength.set(w, n);
    }
    // Pairs that gained occurrences go (back) into the heap with their new counts.
    const touched = this.touched;
    for (let k = 0; k < touched.length; k++) {
      const p = touched.get(k);
      if (this.pairLastWord.get(p) == NONE) continue;
      this.pairLastWord.set(p, NONE); // doubles as a "pushed already" mark for this merge
      this.heapPush(this.pairCounts.get(p), p);
    }
    touched.length = 0;
  }

  /** Tokens into the output buffer: u32 count, then (byte offset, length | tag << 31) per token, then bytes. */
  writeTokens(): i32 {
    const t = this.tokens;
    const n = t.size;
    let bytes = 0;
    for (let e = 0; e < n; e++) bytes += <i32>t.lengths.get(e);
    const header = 4 + n * 8;
    const out = reserveOutput(header + bytes);
    store<u32>(out, n);
    let at = header;
    for (let e = 0; e < n; e++) {
      const len = <i32>t.lengths.get(e);
      store<u32>(out + 4 + (<usize>e << 3), at);
      store<u32>(out + 8 + (<usize>e << 3), <u32>len | (t.tags.get(e) << 31));
      memory.copy(out + at, t.bytesOf(e), len);
      at += len;
    }
    return at;
  }

  dispose(): void {
    this.words.dispose();
    this.wordCounts.dispose();
    this.tokens.dispose();
    this.symbols.dispose();
    this.wordStart.dispose();
    this.wordLength.dispose();
    this.wordStamp.dispose();
    this.pairKeys.dispose();
    this.pairCounts.dispose();
    this.pairHead.dispose();
    this.pairLastWord.dispose();
    this.occurrenceWord.dispose();
    this.occurrenceNext.dispose();
    this.heapCounts.dispose();
    this.heapPairs.dispose();
    this.merges.dispose();
    this.touched.dispose();
    this.scratch.dispose();
    this.joined.dispose();
  }
}

const trainers = new Array<BpeTrainer | null>();

function trainer(handle: i32): BpeTrainer {
  return changetype<BpeTrainer>(trainers[handle]);
}

/** A trainer over bytes (mode 0, byte-level BPE) or characters (mode 1, WordPiece). */
export function bpeTrainerNew(mode: i32): i32 {
  trainers.push(new BpeTrainer(mode));
  return trainers.length - 1;
}

/** Counts the GPT-2 pre-tokens of UTF-8 text. */
export function bpeTrainerCountText(handle: i32, text: usize, len: i32): void {
  trainer(handle).countText(text, len);
}

/** Counts the words of UTF-8 text (normalised by the host) as BERT's basic tokenizer splits them. */
export function bpeTrainerCountBertWords(handle: i32, text: usize, len: i32): void {
  trainer(handle).countBertWords(text, len);
}

export function bpeTrainerWordCount(handle: i32): i32 {
  return trainer(handle).words.size;
}

export function bpeTrainerInit(handle: i32, firstId: i32): i32 {
  return trainer(handle).init(<u32>firstId);
}

export function bpeTrainerStep(handle: i32, vocabSize: i32, minFrequency: f64, maxMerges: i32): i32 {
  return trainer(handle).step(vocabSize, <u64>minFrequency, maxMerges);
}

/** Writes the tokens to the output buffer (see BpeTrainer.writeTokens); returns its length in bytes. */
export function bpeTrainerTokens(handle: i32): i32 {
  return trainer(handle).writeTokens();
}

/** Writes the merges, (left, right, merged) u32 triples, to the output buffer; returns how many. */
export function bpeTrainerMerges(handle: i32): i32 {
  const m = trainer(handle).merges;
  const out = reserveOutput(<usize>max(m.length, 1) << 2);
  memory.copy(out, m.ptr, <usize>m.length << 2);
  return m.length / 3;
}

export function bpeTrainerDispose(handle: i32): void {
  const t = trainers[handle];
  if (t) t.dispose();
  trainers[handle] = null;
}
