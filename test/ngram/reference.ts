// An independent, deliberately plain reference for lmplz's modified Kneser-Ney, in f64 and from the
// definitions rather than from the streaming algorithm: n-grams of each sentence padded with one <s>
// and one </s>; adjusted count = number of distinct left extensions, except for n-grams that start
// with <s> (raw count) and the highest order (raw count); discounts from counts-of-counts (Chen &
// Goodman eq. 26); p = (a - D(a)) / sum(a) + gamma(context) * p(suffix); unigrams interpolated with
// 1 / (|vocabulary| - 1) (<s> is never predicted). It also reproduces one lmplz quirk: for the
// n-grams still open at the end of lmplz's suffix-order walk, counts-of-counts see the raw count.

export interface ReferenceGram {
  words: string[];
  log10Prob: number;
  log10Backoff: number;
}

export interface ReferenceModel {
  vocabulary: string[];
  /** Per order, n-grams in lmplz's output order (by the ids of the last word, then the one before...). */
  orders: ReferenceGram[][];
  discounts: [number, number, number][];
  countsOfCounts: [number, number, number, number][];
}

const SPECIAL = new Set(['<unk>', '<s>', '</s>']);

export function referenceModel(text: string, order: number, fallback?: [number, number, number]): ReferenceModel {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocabulary = ['<unk>', '<s>', '</s>'];
  const id = new Map(vocabulary.map((w, i) => [w, i]));
  const sentences = lines.map((line) =>
    line.split(/[ \t\r\0]+/).filter((w) => w && !SPECIAL.has(w)).map((w) => {
      if (!id.has(w)) {
        id.set(w, vocabulary.length);
        vocabulary.push(w);
      }
      return w;
    }),
  );
  const key = (g: string[]): string => g.join(' ');

  // Raw counts of every k-gram of <s> w1 .. wn </s>.
  const raw: Map<string, number>[] = [];
  for (let k = 1; k <= order; k++) {
    const counts = new Map<string, number>();
    for (const s of sentences) {
      const padded = ['<s>', ...s, '</s>'];
      for (let i = 0; i + k <= padded.length; i++) {
        const g = key(padded.slice(i, i + k));
        counts.set(g, (counts.get(g) ?? 0) + 1);
      }
    }
    raw.push(counts);
  }

  // Adjusted counts.
  const adjusted: Map<string, number>[] = [];
  for (let k = 1; k <= order; k++) {
    const counts = new Map<string, number>();
    if (k === order) {
      for (const [g, c] of raw[k - 1]) counts.set(g, c);
    } else {
      const left = new Map<string, Set<string>>();
      for (const g of raw[k].keys()) {
        const words = g.split(' ');
        const suffix = key(words.slice(1));
        if (!left.has(suffix)) left.set(suffix, new Set());
        left.get(suffix)!.add(words[0]);
      }
      for (const [g, c] of raw[k - 1]) {
        if (g === '<s>') continue;
        counts.set(g, g.startsWith('<s>') ? c : left.get(g)?.size ?? 0);
      }
    }
    if (k === 1) {
      counts.set('<unk>', 0);
      counts.set('<s>', 0);
    }
    adjusted.push(counts);
  }

  // lmplz's walk ends on the largest highest-order n-gram in suffix order (over the text padded with
  // order-1 <s>); its suffixes up to the first <s> are counted with their raw count.
  const lastCounted = new Map<string, number>();
  if (order > 1) {
    let last: number[] | null = null;
    for (const s of sentences) {
      const padded = [...Array(order - 1).fill('<s>'), ...s, '</s>'].map((w) => id.get(w)!);
      for (let i = 0; i + order <= padded.length; i++) {
        const g = padded.slice(i, i + order);
        if (last === null || compareSuffixOrder(g, last) > 0) last = g;
      }
    }
    for (let k = 1; k < order; k++) {
      const g = last!.slice(order - k);
      lastCounted.set(key(g.map((i) => vocabulary[i])), k);
      if (g[0] === 1) break;
    }
  }

  const countsOfCounts: [number, number, number, number][] = [];
  const discounts: [number, number, number][] = [];
  for (let k = 1; k <= order; k++) {
    const n = [0, 0, 0, 0, 0];
    for (const [g, a] of adjusted[k - 1]) {
      const c = lastCounted.get(g) === k ? raw[k - 1].get(g)! : a;
      if (c < 5) n[c]++;
    }
    countsOfCounts.push([n[1], n[2], n[3], n[4]]);
    const y = n[1] / (n[1] + 2 * n[2]);
    const d = [1, 2, 3].map((j) => j - ((j + 1) * y * n[j + 1]) / n[j]);
    const bad = [1, 2, 3].some((j) => n[j] === 0) || d.some((x, j) => !(x >= 0 && x <= j + 1));
    if (bad && !fallback) throw new Error(`reference: no discounts for order ${k}`);
    discounts.push((bad ? fallback! : d) as [number, number, number]);
  }

  // Probabilities, lowest order first.
  const prob: Map<string, number>[] = [];
  const gammaOf: Map<string, number>[] = []; // gamma of each context (k-1 words) of order k
  for (let k = 1; k <= order; k++) {
    const D = (c: number): number => (c === 0 ? 0 : discounts[k - 1][Math.min(c, 3) - 1]);
    const groups = new Map<string, { total: number; n: number[] }>();
    for (const [g, a] of adjusted[k - 1]) {
      const context = key(g.split(' ').slice(0, k - 1));
      if (!groups.has(context)) groups.set(context, { total: 0, n: [0, 0, 0, 0] });
      const group = groups.get(context)!;
      group.total += a;
      if (a > 0) group.n[Math.min(a, 3)]++;
    }
    const gammas = new Map<string, number>();
    for (const [context, { total, n }] of groups) gammas.set(context, (D(1) * n[1] + D(2) * n[2] + D(3) * n[3]) / total);
    gammaOf.push(gammas);
    const probs = new Map<string, number>();
    for (const [g, a] of adjusted[k - 1]) {
      const words = g.split(' ');
      const context = key(words.slice(0, k - 1));
      const { total } = groups.get(context)!;
      const lower = k === 1 ? 1 / (vocabulary.length - 1) : prob[k - 2].get(key(words.slice(1)))!;
      probs.set(g, g === '<s>' ? 1 : (a - D(a)) / total + gammas.get(context)! * lower);
    }
    prob.push(probs);
  }

  const orders: ReferenceGram[][] = [];
  for (let k = 1; k <= order; k++) {
    const grams = [...adjusted[k - 1].keys()].map((g) => g.split(' '));
    grams.sort((a, b) => compareSuffixOrder(a.map((w) => id.get(w)!), b.map((w) => id.get(w)!)));
    orders.push(
      grams.map((words) => {
        const g = key(words);
        const backoff = k < order ? gammaOf[k].get(g) : undefined;
        return {
          words,
          log10Prob: g === '<s>' ? -99 : Math.min(0, Math.log10(prob[k - 1].get(g)!)),
          log10Backoff: backoff === undefined ? 0 : Math.log10(backoff),
        };
      }),
    );
  }
  return { vocabulary, orders, discounts, countsOfCounts };
}

/** Order of lmplz's suffix sort: by the last id, then the one before, and so on. */
function compareSuffixOrder(a: number[], b: number[]): number {
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
