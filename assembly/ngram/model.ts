// A backoff n-gram model as the ARPA format holds it: per order, the n-grams (word ids), their
// log10 probabilities and, below the highest order, log10 backoff weights. Built by build.ts or read
// by arpa.ts; queried with KenLM's scoring rules.
import { Buf } from './buffer';
import { Vocab, BOS } from './vocab';

const NONE: u32 = 0xffffffff;
/** KenLM's probability for <unk> when a model lacks it (Config::unknown_missing_logprob). */
const MISSING_UNK_LOG10: f32 = -100;

export class Model {
  order: i32;
  vocab: Vocab;
  /** Index k-1: n-grams of order k, k word ids each, in file (and for built models, suffix) order. */
  words: Array<Buf> = [];
  prob: Array<Buf> = [];
  backoff: Array<Buf> = [];

  /**
   * Query index, as KenLM's probing model: per order >= 2 an open-addressing table of 16-byte slots
   * {64-bit hash of the word ids, log10 prob, log10 backoff}, so that a lookup touches one cache line.
   * Like KenLM it trusts the 64-bit hash (a false match needs a collision, about n^2 / 2^65).
   * Unigrams are looked up by id.
   */
  unigramOf: Buf = new Buf();
  tables: Array<usize> = [];
  masks: Array<u32> = [];
  indexed: bool = false;

  constructor(order: i32, vocab: Vocab) {
    this.order = order;
    this.vocab = vocab;
    for (let k = 0; k < order; k++) {
      this.words.push(new Buf());
      this.prob.push(new Buf());
      this.backoff.push(new Buf());
      this.tables.push(0);
      this.masks.push(0);
    }
  }

  @inline size(k: i32): usize {
    return unchecked(this.prob[k - 1]).len >> 2;
  }

  @inline gramPtr(k: i32, i: usize): usize {
    return unchecked(this.words[k - 1]).ptr + ((i * <usize>k) << 2);
  }

  buildIndex(): void {
    if (this.indexed) return;
    const v = <usize>this.vocab.size;
    this.unigramOf.resize(v << 2);
    memory.fill(this.unigramOf.ptr, 0xff, v << 2);
    const n1 = this.size(1);
    for (let i: usize = 0; i < n1; i++) this.unigramOf.setU32(load<u32>(this.gramPtr(1, i)), <u32>i);
    for (let k = 2; k <= this.order; k++) {
      const n = this.size(k);
      let cap: usize = 1024;
      while (cap * 2 < n * 3) cap <<= 1; // at most 2/3 full
      const table = heap.alloc(cap << 4);
      memory.fill(table, 0, cap << 4);
      const mask = <u32>cap - 1;
      const prob = this.prob[k - 1].ptr;
      const backoff = this.backoff[k - 1].ptr;
      const hasBackoff = k < this.order;
      for (let i: usize = 0; i < n; i++) {
        const h = hash64(this.gramPtr(k, i), k);
        let s = <u32>h & mask;
        while (load<u64>(table + (<usize>s << 4)) != 0) s = (s + 1) & mask;
        const slot = table + (<usize>s << 4);
        store<u64>(slot, h);
        store<f32>(slot + 8, load<f32>(prob + (i << 2)));
        store<f32>(slot + 12, hasBackoff ? load<f32>(backoff + (i << 2)) : 0);
      }
      this.tables[k - 1] = table;
      this.masks[k - 1] = mask;
    }
    this.indexed = true;
  }

  /** Slot {hash, log10 prob, log10 backoff} of the k-gram (k >= 2) whose ids are at `p`, or 0. */
  @inline find(k: i32, p: usize): usize {
    const table = unchecked(this.tables[k - 1]);
    const mask = unchecked(this.masks[k - 1]);
    const h = hash64(p, k);
    let s = <u32>h & mask;
    while (true) {
      const slot = table + (<usize>s << 4);
      const key = load<u64>(slot);
      if (key == h) return slot;
      if (key == 0) return 0;
      s = (s + 1) & mask;
    }
  }

  dispose(): void {
    for (let k = 0; k < this.order; k++) {
      this.words[k].free();
      this.prob[k].free();
      this.backoff[k].free();
      if (this.tables[k]) heap.free(this.tables[k]);
    }
    this.unigramOf.free();
    this.vocab.dispose();
  }
}

/**
 * Scoring state, as KenLM's ngram::State: the most recent words (newest first) whose n-grams exist
 * in the model, with their backoff weights.
 */
export class Scorer {
  model: Model;
  history: usize; // order u32: newest first
  backoffs: usize; // order f32
  length: i32 = 0;
  /** Scratch n-gram in natural order, and the next state's backoffs. */
  gram: usize;
  nextBackoffs: usize;
  /** Length of the n-gram that matched for the last word (KenLM's ngram_length). */
  matched: i32 = 0;

  constructor(model: Model) {
    this.model = model;
    const n = <usize>model.order;
    this.history = heap.alloc(n << 2);
    this.backoffs = heap.alloc(n << 2);
    this.gram = heap.alloc(n << 2);
    this.nextBackoffs = heap.alloc(n << 2);
  }

  /** Begin-of-sentence state: context <s>. */
  beginSentence(): void {
    this.length = 0;
    if (this.model.order == 1) return;
    const u = this.model.unigramOf.u32At(BOS);
    if (u == NONE) return;
    store<u32>(this.history, BOS);
    store<f32>(this.backoffs, this.model.backoff[0].f32At(u));
    this.length = 1;
  }

  /** Sets the context explicitly (ids newest first) to the longest suffix whose n-grams exist. */
  setContext(ids: usize, n: i32): void {
    const m = this.model;
    this.length = 0;
    const limit = min(n, m.order - 1);
    for (let len = 1; len <= limit; len++) {
      // n-gram of the `len` most recent words, oldest first
      for (let j = 0; j < len; j++) store<u32>(this.gram + (<usize>j << 2), load<u32>(ids + (<usize>(len - 1 - j) << 2)));
      let backoff: f32;
      if (len == 1) {
        const word = load<u32>(this.gram);
        const idx = word < m.vocab.size ? m.unigramOf.u32At(word) : NONE;
        if (idx == NONE) break;
        backoff = m.backoff[0].f32At(idx);
      } else {
        const slot = m.find(len, this.gram);
        if (slot == 0) break;
        backoff = load<f32>(slot + 12);
      }
      store<u32>(this.history + (<usize>(len - 1) << 2), load<u32>(ids + (<usize>(len - 1) << 2)));
      store<f32>(this.backoffs + (<usize>(len - 1) << 2), backoff);
      this.length = len;
    }
  }

  /** log10 p(word | state), then advances the state past `word` (KenLM's FullScore). */
  score(word: u32): f32 {
    const m = this.model;
    const order = m.order;
    const u = word < m.vocab.size ? load<u32>(m.unigramOf.ptr + (<usize>word << 2)) : NONE;
    let prob: f32;
    if (u == NONE) {
      prob = MISSING_UNK_LOG10;
      store<f32>(this.nextBackoffs, 0);
    } else {
      prob = m.prob[0].f32At(u);
      store<f32>(this.nextBackoffs, order > 1 ? m.backoff[0].f32At(u) : 0);
    }
    let matched = 1;
    // Extend to the left while the longer n-gram exists.
    const history = this.history;
    const last = this.gram + (<usize>(order - 1) << 2);
    store<u32>(last, word);
    const length = this.length;
    for (let len = 1; len <= length && len < order; len++) {
      const start = last - (<usize>len << 2);
      store<u32>(start, load<u32>(history + (<usize>(len - 1) << 2)));
      const slot = m.find(len + 1, start);
      if (slot == 0) break;
      matched = len + 1;
      prob = load<f32>(slot + 8);
      store<f32>(this.nextBackoffs + (<usize>len << 2), load<f32>(slot + 12));
    }
    // Back off through the contexts that were not matched.
    for (let i = matched - 1; i < length; i++) prob += load<f32>(this.backoffs + (<usize>i << 2));
    // Next state: word plus the matched context, at most order - 1 words.
    const next = min(matched, order - 1);
    for (let i = next - 1; i >= 1; i--) {
      store<u32>(history + (<usize>i << 2), load<u32>(history + (<usize>(i - 1) << 2)));
    }
    if (next >= 1) store<u32>(history, word);
    memory.copy(this.backoffs, this.nextBackoffs, <usize>next << 2);
    this.length = next;
    this.matched = matched;
    return prob;
  }
}

/** 64-bit hash of k word ids (never 0, which marks an empty slot). */
@inline function hash64(p: usize, k: i32): u64 {
  let h: u64 = 0x9e3779b97f4a7c15 ^ <u64>k;
  for (let i = 0; i < k; i++) {
    h = (h ^ <u64>load<u32>(p + (<usize>i << 2))) * 0xff51afd7ed558ccd;
    h ^= h >> 29;
  }
  h *= 0xc4ceb9fe1a85ec53;
  h ^= h >> 32;
  return h == 0 ? 1 : h;
}
