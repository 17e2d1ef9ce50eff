// A backoff n-gram model as the ARPA format holds it: per order, the n-grams (word ids), their
// log10 probabilities and, below the highest order, log10 backoff weights. Built by build.ts or read
// by arpa.ts; queried with KenLM's scoring rules.
import { Buf, hashWords, sameWords, tableSizeFor } from './buffer';
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

  /** Query index: unigram entry of each vocabulary id, and hash tables for orders >= 2. */
  unigramOf: Buf = new Buf();
  tables: Array<usize> = [];
  masks: Array<u32> = [];
  indexed: bool = false;
  /** Per order k (at (k-1) * 20): hash table, mask, n-gram ids, log10 probs, log10 backoffs; raw for speed. */
  orders: usize = 0;

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
      const cap = tableSizeFor(n);
      const table = heap.alloc(cap << 2);
      memory.fill(table, 0, cap << 2);
      const mask = <u32>cap - 1;
      for (let i: usize = 0; i < n; i++) {
        let s = hashWords(this.gramPtr(k, i), k) & mask;
        while (load<u32>(table + (<usize>s << 2)) != 0) s = (s + 1) & mask;
        store<u32>(table + (<usize>s << 2), <u32>i + 1);
      }
      this.tables[k - 1] = table;
      this.masks[k - 1] = mask;
    }
    this.orders = heap.alloc(<usize>this.order * 20);
    for (let k = 1; k <= this.order; k++) {
      const at = this.orders + <usize>(k - 1) * 20;
      store<u32>(at, <u32>this.tables[k - 1]);
      store<u32>(at + 4, this.masks[k - 1]);
      store<u32>(at + 8, <u32>this.words[k - 1].ptr);
      store<u32>(at + 12, <u32>this.prob[k - 1].ptr);
      store<u32>(at + 16, <u32>this.backoff[k - 1].ptr);
    }
    this.indexed = true;
  }

  /** Entry index of the k-gram (k >= 2) whose ids are at `p`, or NONE; needs buildIndex(). */
  @inline findFast(k: i32, p: usize): u32 {
    const at = this.orders + <usize>(k - 1) * 20;
    const table = <usize>load<u32>(at);
    const mask = load<u32>(at + 4);
    const words = <usize>load<u32>(at + 8);
    const bytes = <usize>k << 2;
    let s = hashWords(p, k) & mask;
    while (true) {
      const e = load<u32>(table + (<usize>s << 2));
      if (e == 0) return NONE;
      if (sameWords(words + <usize>(e - 1) * bytes, p, k)) return e - 1;
      s = (s + 1) & mask;
    }
  }

  @inline probAt(k: i32, i: u32): f32 {
    return load<f32>(<usize>load<u32>(this.orders + <usize>(k - 1) * 20 + 12) + (<usize>i << 2));
  }

  @inline backoffAt(k: i32, i: u32): f32 {
    return load<f32>(<usize>load<u32>(this.orders + <usize>(k - 1) * 20 + 16) + (<usize>i << 2));
  }

  /** Entry index of the k-gram whose ids are at `p`, or NONE. */
  find(k: i32, p: usize): u32 {
    const table = unchecked(this.tables[k - 1]);
    const mask = unchecked(this.masks[k - 1]);
    let s = hashWords(p, k) & mask;
    while (true) {
      const e = load<u32>(table + (<usize>s << 2));
      if (e == 0) return NONE;
      if (sameWords(this.gramPtr(k, e - 1), p, k)) return e - 1;
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
    if (this.orders) heap.free(this.orders);
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
      let idx: u32;
      if (len == 1) idx = m.unigramOf.u32At(load<u32>(this.gram));
      else idx = m.find(len, this.gram);
      if (idx == NONE) break;
      store<u32>(this.history + (<usize>(len - 1) << 2), load<u32>(ids + (<usize>(len - 1) << 2)));
      store<f32>(this.backoffs + (<usize>(len - 1) << 2), m.backoff[len - 1].f32At(idx));
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
      prob = m.probAt(1, u);
      store<f32>(this.nextBackoffs, order > 1 ? m.backoffAt(1, u) : 0);
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
      const idx = m.findFast(len + 1, start);
      if (idx == NONE) break;
      matched = len + 1;
      prob = m.probAt(matched, idx);
      if (matched < order) store<f32>(this.nextBackoffs + (<usize>len << 2), m.backoffAt(matched, idx));
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
