// Builds an interpolated modified Kneser-Ney model the way KenLM's lmplz does (lm/builder/):
//  1. count the highest-order n-grams of each sentence, padded on the left with <s> (corpus_count.cc);
//  2. derive lower orders with adjusted (continuation) counts in suffix order (adjust_counts.cc),
//     collecting counts-of-counts and the discounts D1, D2, D3+ per order;
//  3. discounted probabilities and gammas per context (initial_probabilities.cc);
//  4. interpolate each order with the next lower one, unigrams with the uniform distribution over
//     the vocabulary without <s> (interpolate.cc); log10 and backoffs as lmplz writes them.
// Floating-point steps use f32 in the same order as lmplz so that the numbers agree bit for bit
// as far as the libm log10 allows.
import { Buf, hashWords, sameWords, tableSizeFor } from './buffer';
import { Vocab, isCorpusSpace, UNK, BOS, EOS } from './vocab';
import { Model } from './model';

/** lmplz's error kinds for discounts it cannot estimate. */
export const DISCOUNT_MISSING_COUNT = 1;
export const DISCOUNT_OUT_OF_RANGE = 2;

export class Builder {
  order: i32;
  vocab: Vocab = new Vocab();
  /** Highest-order n-grams: ids (order per entry) and raw counts, with a hash index. */
  grams: Buf = new Buf();
  counts: Buf = new Buf();
  slots: usize = 0;
  mask: u32 = 0;
  entries: u32 = 0;
  window: usize;
  tokens: u64 = 0;
  sentences: u64 = 0;
  /** Occurrences of <s>, </s>, <unk> in the text, treated as spaces (lmplz --skip_symbols). */
  skippedSpecials: u64 = 0;

  /** Per order (index k-1): counts-of-counts n[0..4]. */
  countsOfCounts: StaticArray<u64> = new StaticArray<u64>(0);
  /** Per order: D0..D3 (D0 = 0). */
  discounts: StaticArray<f32> = new StaticArray<f32>(0);
  /** Set when a discount could not be estimated: order, kind, adjusted count, value. */
  badOrder: i32 = 0;
  badKind: i32 = 0;
  badCount: i32 = 0;
  badValue: f32 = 0;
  /** Orders that fell back to the fallback discounts (bit k-1). */
  fallbackOrders: u32 = 0;

  constructor(order: i32) {
    this.order = order;
    this.window = heap.alloc(<usize>order << 2);
    const cap = tableSizeFor(1 << 16);
    this.slots = heap.alloc(cap << 2);
    memory.fill(this.slots, 0, cap << 2);
    this.mask = <u32>cap - 1;
    this.countsOfCounts = new StaticArray<u64>(order * 5);
    this.discounts = new StaticArray<f32>(order * 4);
  }

  /** Counts whole lines of UTF-8 text (the chunk ends with a newline). */
  countText(p: usize, n: usize): void {
    const order = this.order;
    const vocab = this.vocab;
    const history = <usize>(order - 1) << 2;
    let i: usize = 0;
    let lineStart = true;
    while (i < n) {
      if (lineStart) {
        for (let j = 0; j < order - 1; j++) store<u32>(this.window + (<usize>j << 2), BOS);
        lineStart = false;
      }
      const b = <u32>load<u8>(p + i);
      if (b == 10) {
        this.add(EOS, history);
        this.sentences++;
        lineStart = true;
        i++;
        continue;
      }
      if (isCorpusSpace(b)) {
        i++;
        continue;
      }
      const start = i;
      while (i < n && !isCorpusSpace(<u32>load<u8>(p + i))) i++;
      const id = vocab.intern(p + start, <u32>(i - start));
      if (id <= EOS) {
        this.skippedSpecials++;
        continue;
      }
      this.tokens++;
      this.add(id, history);
    }
  }

  @inline private add(word: u32, history: usize): void {
    const order = this.order;
    const w = this.window;
    store<u32>(w + history, word);
    const bytes = <usize>order << 2;
    let s = hashWords(w, order) & this.mask;
    while (true) {
      const e = load<u32>(this.slots + (<usize>s << 2));
      if (e == 0) break;
      if (sameWords(this.grams.ptr + <usize>(e - 1) * bytes, w, order)) {
        const c = this.counts.ptr + (<usize>(e - 1) << 2);
        store<u32>(c, load<u32>(c) + 1);
        memory.copy(w, w + 4, history);
        return;
      }
      s = (s + 1) & this.mask;
    }
    this.grams.pushBytes(w, bytes);
    this.counts.pushU32(1);
    this.entries++;
    store<u32>(this.slots + (<usize>s << 2), this.entries);
    if (<usize>this.entries * 10 > (<usize>this.mask + 1) * 7) this.growTable();
    memory.copy(w, w + 4, history);
  }

  private growTable(): void {
    const cap = (<usize>this.mask + 1) << 1;
    heap.free(this.slots);
    this.slots = heap.alloc(cap << 2);
    memory.fill(this.slots, 0, cap << 2);
    this.mask = <u32>cap - 1;
    const bytes = <usize>this.order << 2;
    for (let e: u32 = 0; e < this.entries; e++) {
      let s = hashWords(this.grams.ptr + <usize>e * bytes, this.order) & this.mask;
      while (load<u32>(this.slots + (<usize>s << 2)) != 0) s = (s + 1) & this.mask;
      store<u32>(this.slots + (<usize>s << 2), e + 1);
    }
  }

  @inline private statAdd(orderIndex: i32, count: u64): void {
    if (count < 5) unchecked(this.countsOfCounts[orderIndex * 5 + <i32>count]++);
  }

  /**
   * Builds the model. Returns null after setting bad* when a discount cannot be estimated and no
   * fallback is allowed (lmplz without --discount_fallback).
   */
  finish(useFallback: bool, fallback1: f32, fallback2: f32, fallback3: f32): Model | null {
    const order = this.order;
    heap.free(this.slots);
    this.slots = 0;

    // Adjusted counts per order; model.words gets the n-grams in suffix order.
    const model = new Model(order, this.vocab);
    const adjusted = new Array<Buf>(order);
    for (let k = 0; k < order; k++) adjusted[k] = new Buf();
    this.grams.shrinkToFit();
    this.counts.shrinkToFit();
    if (order == 1) this.unigramCounts(model, adjusted[0]);
    else this.adjustCounts(model, adjusted);
    this.grams.free();
    this.counts.free();
    for (let k = 1; k <= order; k++) model.prob[k - 1].resize(adjusted[k - 1].len);

    if (!this.computeDiscounts(useFallback, fallback1, fallback2, fallback3)) {
      for (let k = 0; k < order; k++) adjusted[k].free();
      model.dispose();
      return null;
    }

    this.unigramProbabilities(model, adjusted[0]);
    adjusted[0].free();
    for (let k = 2; k <= order; k++) {
      this.orderProbabilities(model, k, adjusted[k - 1]);
      adjusted[k - 1].free();
      // Order k-1 is final now: its probabilities and backoffs become log10.
      toLog10(model, k - 1);
    }
    toLog10(model, order);
    model.prob[0].setF32(BOS, -99);
    return model;
  }

  /** Order 1: raw counts, with <unk> and <s> at count 0 (corpus_count.cc, AddUnigramWord). */
  private unigramCounts(model: Model, adjusted: Buf): void {
    const v = this.vocab.size;
    const words = model.words[0];
    words.resize(<usize>v << 2);
    adjusted.resize(<usize>v << 2);
    for (let id: u32 = 0; id < v; id++) {
      words.setU32(id, id);
      adjusted.setU32(id, 0);
    }
    for (let e: u32 = 0; e < this.entries; e++) adjusted.setU32(this.grams.u32At(e), this.counts.u32At(e));
    for (let id: u32 = 0; id < v; id++) this.statAdd(0, adjusted.u32At(id));
  }

  /**
   * adjust_counts.cc: walks the highest-order n-grams in suffix order, keeping one open n-gram per
   * lower order. A lower-order n-gram's adjusted count is its number of distinct left extensions;
   * n-grams that start with <s> keep their raw count; highest-order n-grams with <s> after the first
   * position (extra padding) are dropped. Counts-of-counts follow lmplz exactly, including its use of
   * the raw count for the n-grams still open at the end of the walk.
   */
  private adjustCounts(model: Model, adjusted: Array<Buf>): void {
    const order = this.order;
    const n = <usize>this.entries;
    const perm = this.suffixOrder(this.grams.ptr, order, n);
    const stride = <usize>order << 2;

    // Open n-gram per depth d (order d + 1): words, adjusted count, raw count (raw u64 arrays:
    // this loop runs once per distinct highest-order n-gram).
    const open = heap.alloc(<usize>order * stride);
    const openCount = heap.alloc(<usize>order << 3);
    const rawCount = heap.alloc(<usize>order << 3);
    // Per order: n-grams found (first walk), then write positions in the words and counts arrays.
    const sizes = heap.alloc(<usize>order << 3);
    const wordsAt = heap.alloc(<usize>order << 3);
    const countsAt = heap.alloc(<usize>order << 3);
    memory.fill(sizes, 0, <usize>order << 3);
    // Two walks: the first only counts the n-grams of each order, so that the second writes them
    // into arrays of exactly the right size (no growth slack, no copies).
    for (let pass = 0; pass < 2; pass++) {
      const write = pass == 1;
      if (write) {
        for (let k = 1; k <= order; k++) {
          const count = <usize>load<u64>(sizes + (<usize>(k - 1) << 3));
          const words = model.words[k - 1];
          const counts = adjusted[k - 1];
          words.resize(count * <usize>k * 4);
          counts.resize(count * 4);
          store<u64>(wordsAt + (<usize>(k - 1) << 3), words.ptr);
          store<u64>(countsAt + (<usize>(k - 1) << 3), counts.ptr);
        }
        // <unk> first with count 0 (the <s> after it is opened below).
        store<u32>(<usize>load<u64>(wordsAt), UNK);
        store<u32>(<usize>load<u64>(countsAt), 0);
        store<u64>(wordsAt, load<u64>(wordsAt) + 4);
        store<u64>(countsAt, load<u64>(countsAt) + 4);
        this.statAdd(0, 0);
      } else {
        store<u64>(sizes, 1);
      }
      store<u32>(open, BOS);
      store<u64>(openCount, 0);
      store<u64>(rawCount, u64.MAX_VALUE);
      let depth = 0;

      for (let r: usize = 0; r <= n; r++) {
        // r == n: close everything still open (lmplz counts these with their raw count).
        const last = r == n;
        let g: usize = 0;
        let gc: u64 = 0;
        let same = 0;
        let different = 0;
        if (!last) {
          const e = load<u32>(perm + (r << 2));
          g = this.grams.ptr + <usize>e * stride;
          gc = <u64>load<u32>(this.counts.ptr + (<usize>e << 2));
          // Last position of g that differs from the open n-gram of the deepest order, from the right.
          different = order - 1;
          const openWords = open + <usize>depth * stride;
          let pre = depth;
          while (pre >= 0 && load<u32>(openWords + (<usize>pre << 2)) == load<u32>(g + (<usize>different << 2))) {
            pre--;
            different--;
          }
          same = order - 1 - different;
        }
        // Close the open n-grams that no longer match.
        while (depth >= same) {
          const d8 = <usize>depth << 3;
          if (write) {
            const adjustedCount = load<u64>(openCount + d8);
            this.statAdd(depth, last ? load<u64>(rawCount + d8) : adjustedCount);
            const bytes = <usize>(depth + 1) << 2;
            const w = <usize>load<u64>(wordsAt + d8);
            memory.copy(w, open + <usize>depth * stride, bytes);
            store<u64>(wordsAt + d8, <u64>(w + bytes));
            const c = <usize>load<u64>(countsAt + d8);
            store<u32>(c, <u32>adjustedCount);
            store<u64>(countsAt + d8, <u64>(c + 4));
          } else {
            store<u64>(sizes + d8, load<u64>(sizes + d8) + 1);
          }
          depth--;
        }
        if (last) break;
        for (let i = 0; i < same; i++) store<u64>(rawCount + (<usize>i << 3), load<u64>(rawCount + (<usize>i << 3)) + gc);
        if (same > 0) store<u64>(openCount + (<usize>(same - 1) << 3), load<u64>(openCount + (<usize>(same - 1) << 3)) + 1);
        // Open the new suffixes, up to an <s>.
        let b = different;
        while (b > 0 && load<u32>(g + (<usize>b << 2)) != BOS) {
          depth++;
          memory.copy(open + <usize>depth * stride, g + (<usize>b << 2), <usize>(order - b) << 2);
          store<u64>(openCount + (<usize>depth << 3), 1);
          store<u64>(rawCount + (<usize>depth << 3), gc);
          b--;
        }
        if (b != 0) {
          depth++;
          memory.copy(open + <usize>depth * stride, g + (<usize>b << 2), <usize>(order - b) << 2);
          store<u64>(openCount + (<usize>depth << 3), gc);
          store<u64>(rawCount + (<usize>depth << 3), gc);
        } else {
          const top = <usize>(order - 1) << 3;
          if (write) {
            this.statAdd(order - 1, gc);
            const w = <usize>load<u64>(wordsAt + top);
            memory.copy(w, g, stride);
            store<u64>(wordsAt + top, <u64>(w + stride));
            const c = <usize>load<u64>(countsAt + top);
            store<u32>(c, <u32>gc);
            store<u64>(countsAt + top, <u64>(c + 4));
          } else {
            store<u64>(sizes + top, load<u64>(sizes + top) + 1);
          }
        }
      }
    }
    heap.free(openCount);
    heap.free(rawCount);
    heap.free(sizes);
    heap.free(wordsAt);
    heap.free(countsAt);
    heap.free(open);
    heap.free(perm);
  }

  /**
   * Permutation of entries 0..n-1 (`order` word ids each) in lmplz's suffix order: by the last id,
   * then the one before, and so on. A stable LSD radix sort, one counting pass per position.
   */
  private suffixOrder(words: usize, order: i32, n: usize): usize {
    const v = <usize>this.vocab.size;
    let perm = heap.alloc(n << 2);
    let tmp = heap.alloc(n << 2);
    const buckets = heap.alloc((v + 1) << 2);
    for (let i: usize = 0; i < n; i++) store<u32>(perm + (i << 2), <u32>i);
    const s = <usize>order << 2;
    for (let pos = 0; pos < order; pos++) {
      const at = words + (<usize>pos << 2);
      memory.fill(buckets, 0, (v + 1) << 2);
      for (let i: usize = 0; i < n; i++) {
        const key = <usize>load<u32>(at + <usize>load<u32>(perm + (i << 2)) * s);
        const c = buckets + ((key + 1) << 2);
        store<u32>(c, load<u32>(c) + 1);
      }
      for (let k: usize = 1; k <= v; k++) {
        store<u32>(buckets + (k << 2), load<u32>(buckets + (k << 2)) + load<u32>(buckets + ((k - 1) << 2)));
      }
      for (let i: usize = 0; i < n; i++) {
        const idx = load<u32>(perm + (i << 2));
        const key = <usize>load<u32>(at + <usize>idx * s);
        const c = buckets + (key << 2);
        const dest = load<u32>(c);
        store<u32>(c, dest + 1);
        store<u32>(tmp + (<usize>dest << 2), idx);
      }
      const swap = perm;
      perm = tmp;
      tmp = swap;
    }
    heap.free(tmp);
    heap.free(buckets);
    return perm;
  }

  /** adjust_counts.cc CalculateDiscounts: Chen & Goodman's equation (26), in f32 like lmplz. */
  private computeDiscounts(useFallback: bool, fallback1: f32, fallback2: f32, fallback3: f32): bool {
    for (let k = 0; k < this.order; k++) {
      const c = k * 5;
      let ok = true;
      for (let j = 1; j < 4 && ok; j++) {
        if (this.countsOfCounts[c + j] == 0) {
          ok = false;
          this.setBad(k + 1, DISCOUNT_MISSING_COUNT, j, 0);
        }
      }
      if (ok) {
        const n1 = this.countsOfCounts[c + 1];
        const n2 = this.countsOfCounts[c + 2];
        const y: f32 = <f32>n1 / <f32>(<f64>n1 + 2.0 * <f64>n2);
        this.discounts[k * 4] = 0;
        for (let j = 1; j < 4 && ok; j++) {
          const d: f32 =
            <f32>j - ((<f32>(j + 1) * y) * <f32>this.countsOfCounts[c + j + 1]) / <f32>this.countsOfCounts[c + j];
          if (d < 0 || d > <f32>j) {
            ok = false;
            this.setBad(k + 1, DISCOUNT_OUT_OF_RANGE, j, d);
          } else {
            this.discounts[k * 4 + j] = d;
          }
        }
      }
      if (!ok) {
        if (!useFallback) return false;
        this.fallbackOrders |= 1 << k;
        this.discounts[k * 4] = 0;
        this.discounts[k * 4 + 1] = fallback1;
        this.discounts[k * 4 + 2] = fallback2;
        this.discounts[k * 4 + 3] = fallback3;
      }
    }
    return true;
  }

  private setBad(order: i32, kind: i32, count: i32, value: f32): void {
    if (this.badOrder != 0) return;
    this.badOrder = order;
    this.badKind = kind;
    this.badCount = count;
    this.badValue = value;
  }

  @inline private discount(k: i32, count: u32): f32 {
    return unchecked(this.discounts[(k - 1) * 4 + <i32>min(count, 3)]);
  }

  /** Gamma of one context: (D1 N1 + D2 N2 + D3 N3+) / denominator, summed in f32 as AddRight does. */
  @inline private gamma(k: i32, n1: u64, n2: u64, n3: u64, denominator: f32): f32 {
    let g: f32 = 0;
    g += this.discount(k, 1) * <f32>n1;
    g += this.discount(k, 2) * <f32>n2;
    g += this.discount(k, 3) * <f32>n3;
    return g / denominator;
  }

  /**
   * Unigrams: initial_probabilities.cc (interpolate_unigrams, lmplz's default: <unk> gets only the
   * interpolation mass, <s> gets probability 1 and is written as -99), then interpolate.cc with the
   * uniform distribution 1 / float(|vocabulary| - 1), since <s> is never predicted.
   */
  private unigramProbabilities(model: Model, adjusted: Buf): void {
    const n = model.size(1);
    let total: u64 = 0;
    let n1: u64 = 0,
      n2: u64 = 0,
      n3: u64 = 0;
    for (let i: usize = 0; i < n; i++) {
      const c = adjusted.u32At(i);
      total += c;
      if (c == 1) n1++;
      else if (c == 2) n2++;
      else if (c >= 3) n3++;
    }
    const denominator = <f32>total;
    const g = this.gamma(1, n1, n2, n3, denominator);
    const uniform: f32 = <f32>(1.0 / <f64>(<f32>(this.vocab.size - 1)));
    const prob = model.prob[0];
    for (let i: usize = 0; i < n; i++) {
      const id = load<u32>(model.gramPtr(1, i));
      const c = adjusted.u32At(i);
      let p: f32;
      if (id == BOS) p = 1.0;
      else {
        const discounted: f32 = id == UNK ? 0 : (<f32>c - this.discount(1, c)) / denominator;
        p = discounted + g * uniform;
      }
      prob.setF32(i, p);
    }
    if (model.order > 1) {
      const bo = model.backoff[0];
      bo.resize(n << 2);
      for (let i: usize = 0; i < n; i++) bo.setF32(i, 1.0);
    }
  }

  /**
   * Order k >= 2. initial_probabilities.cc: each context (the first k-1 words, an n-gram of order
   * k-1) gets gamma = (D1 N1 + D2 N2 + D3 N3+) / sum of adjusted counts, which is also its backoff;
   * each n-gram its discounted probability. interpolate.cc: p = discounted + gamma * p(suffix),
   * where the suffix (last k-1 words) is found by walking both orders in suffix order.
   */
  private orderProbabilities(model: Model, k: i32, adjusted: Buf): void {
    const n = model.size(k);
    const lowerSize = model.size(k - 1);
    // Context of each n-gram, as an index into order k-1.
    const contexts = heap.alloc(n << 2);
    if (k == 2) {
      for (let i: usize = 0; i < n; i++) store<u32>(contexts + (i << 2), load<u32>(model.gramPtr(2, i))); // unigram index == id
    } else {
      const cap = tableSizeFor(lowerSize);
      const table = heap.alloc(cap << 2);
      memory.fill(table, 0, cap << 2);
      const mask = <u32>cap - 1;
      for (let j: usize = 0; j < lowerSize; j++) {
        let s = hashWords(model.gramPtr(k - 1, j), k - 1) & mask;
        while (load<u32>(table + (<usize>s << 2)) != 0) s = (s + 1) & mask;
        store<u32>(table + (<usize>s << 2), <u32>j + 1);
      }
      for (let i: usize = 0; i < n; i++) {
        const g = model.gramPtr(k, i);
        let s = hashWords(g, k - 1) & mask;
        while (true) {
          const e = load<u32>(table + (<usize>s << 2));
          if (e == 0 || sameWords(model.gramPtr(k - 1, e - 1), g, k - 1)) {
            store<u32>(contexts + (i << 2), e - 1);
            break;
          }
          s = (s + 1) & mask;
        }
      }
      heap.free(table);
    }
    // Per context: sum of adjusted counts and the numbers of n-grams with count 1, 2, 3+.
    const sums = heap.alloc(lowerSize << 4);
    memory.fill(sums, 0, lowerSize << 4);
    for (let i: usize = 0; i < n; i++) {
      const c = adjusted.u32At(i);
      const at = sums + (<usize>load<u32>(contexts + (i << 2)) << 4);
      store<u32>(at, load<u32>(at) + c);
      if (c > 0) {
        const cls = at + (<usize>min<u32>(c, 3) << 2);
        store<u32>(cls, load<u32>(cls) + 1);
      }
    }
    const lowerBackoff = model.backoff[k - 2];
    for (let j: usize = 0; j < lowerSize; j++) {
      const at = sums + (j << 4);
      const total = load<u32>(at);
      if (total == 0) continue; // not a context
      const g = this.gamma(k, load<u32>(at + 4), load<u32>(at + 8), load<u32>(at + 12), <f32>total);
      lowerBackoff.setF32(j, g);
      store<f32>(at + 4, g); // beside the total, for the pass below (one cache line per context)
    }
    const prob = model.prob[k - 1];
    const lower = model.prob[k - 2];
    let cursor: usize = 0;
    for (let i: usize = 0; i < n; i++) {
      const c = adjusted.u32At(i);
      const at = sums + (<usize>load<u32>(contexts + (i << 2)) << 4);
      const discounted: f32 = (<f32>c - this.discount(k, c)) / <f32>load<u32>(at);
      const suffix = model.gramPtr(k, i) + 4;
      while (cursor < lowerSize && !sameWords(model.gramPtr(k - 1, cursor), suffix, k - 1)) cursor++;
      prob.setF32(i, discounted + load<f32>(at + 4) * lower.f32At(cursor));
    }
    heap.free(sums);
    heap.free(contexts);
    if (k < model.order) {
      const bo = model.backoff[k - 1];
      bo.resize(n << 2);
      for (let i: usize = 0; i < n; i++) bo.setF32(i, 1.0);
    }
  }

  dispose(): void {
    heap.free(this.window);
    if (this.slots) heap.free(this.slots);
    this.grams.free();
    this.counts.free();
  }
}

/** interpolate.cc's output: log10 probabilities (at most 0) and log10 backoffs. */
function toLog10(model: Model, k: i32): void {
  const n = model.size(k);
  const prob = model.prob[k - 1];
  for (let i: usize = 0; i < n; i++) prob.setF32(i, min<f32>(0, Mathf.log10(prob.f32At(i))));
  if (k < model.order) {
    const bo = model.backoff[k - 1];
    for (let i: usize = 0; i < n; i++) bo.setF32(i, Mathf.log10(bo.f32At(i)));
  }
}
