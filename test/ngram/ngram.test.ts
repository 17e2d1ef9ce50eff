import { NgramModel } from '../../src/ngram/model.js';
import { ngramWasm } from '../../src/ngram/wasm.js';
import { CorruptFileError, InputError } from '../../src/errors.js';
import { referenceModel } from './reference.js';

const log10 = Math.log10;

/** Deterministic pseudo-random text over a Zipf-like vocabulary (LCG, so the test never changes). */
function syntheticCorpus(sentences: number, vocabulary: number, seed: number): string {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const lines: string[] = [];
  for (let s = 0; s < sentences; s++) {
    const length = 1 + Math.floor(next() * 10);
    const words: string[] = [];
    // Log-uniform word ranks: a few frequent words and a long tail of rare ones, as in real text.
    for (let i = 0; i < length; i++) words.push(`w${Math.floor(Math.exp(next() * Math.log(vocabulary)))}`);
    lines.push(words.join(' '));
  }
  // Some sentences again, once to three more times, so that n-grams of every order repeat.
  const n = lines.length;
  lines.push(...lines.slice(0, n / 3), ...lines.slice(0, n / 6), ...lines.slice(0, n / 12));
  return lines.join('\n') + '\n';
}

describe('hand-computed bigram model (Chen & Goodman, lmplz conventions)', () => {
  // <s> 我 你 我 他 我 你 </s>
  // Bigram counts: <s>我 1, 我你 2, 你我 1, 我他 1, 他我 1, 你</s> 1.
  // Adjusted unigram counts (distinct left words): 我 3 (<s>, 你, 他), 你 1, 他 1, </s> 1, <unk> 0, <s> 0.
  // Unigram counts-of-counts n1 = 3, n2 = 0: no discounts can be estimated, so the fallback
  // D1 = 0.5, D2 = 1, D3+ = 1.5 applies to both orders.
  const text = '我 你 我 他 我 你\n';
  const D1 = 0.5,
    D2 = 1,
    D3 = 1.5;
  const unigramTotal = 3 + 1 + 1 + 1;
  const unigramGamma = (D3 * 1 + D1 * 3) / unigramTotal; // one word with count 3+, three with count 1
  const uniform = 1 / 5; // vocabulary <unk> <s> </s> 我 你 他, without <s>
  const p1 = {
    '<unk>': 0 + unigramGamma * uniform,
    '</s>': (1 - D1) / unigramTotal + unigramGamma * uniform,
    我: (3 - D3) / unigramTotal + unigramGamma * uniform,
    你: (1 - D1) / unigramTotal + unigramGamma * uniform,
    他: (1 - D1) / unigramTotal + unigramGamma * uniform,
  };
  // Contexts: <s> -> {我:1}; 我 -> {你:2, 他:1}; 你 -> {我:1, </s>:1}; 他 -> {我:1}.
  const gamma = {
    '<s>': (D1 * 1) / 1,
    我: (D1 * 1 + D2 * 1) / 3,
    你: (D1 * 2) / 2,
    他: (D1 * 1) / 1,
  };
  const p2 = {
    '<s> 我': (1 - D1) / 1 + gamma['<s>'] * p1['我'],
    '我 你': (2 - D2) / 3 + gamma['我'] * p1['你'],
    '我 他': (1 - D1) / 3 + gamma['我'] * p1['他'],
    '你 我': (1 - D1) / 2 + gamma['你'] * p1['我'],
    '你 </s>': (1 - D1) / 2 + gamma['你'] * p1['</s>'],
    '他 我': (1 - D1) / 1 + gamma['他'] * p1['我'],
  };

  test('without a fallback the discounts are an error that says what to do', async () => {
    const error = await NgramModel.buildFromText(text, { order: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/1-grams with adjusted count 3: no 1-grams have adjusted count 2/);
    expect((error as Error).message).toMatch(/--discount-fallback/);
  });

  test('every probability and backoff, and lmplz order and format', async () => {
    const model = await NgramModel.buildFromText(text, { order: 2, discountFallback: true });
    expect(model.stats!.orders.map((o) => o.fallback)).toEqual([true, true]);
    expect(model.stats!.orders[0].countsOfCounts).toEqual([3, 0, 1, 0]);
    expect(model.stats!.orders[1].countsOfCounts).toEqual([5, 1, 0, 0]);
    const unigrams = model.entries(1);
    expect(unigrams.map((e) => e.words[0])).toEqual(['<unk>', '<s>', '</s>', '我', '你', '他']);
    const expected1: Record<string, [number, number]> = {
      '<unk>': [log10(p1['<unk>']), 0],
      '<s>': [-99, log10(gamma['<s>'])],
      '</s>': [log10(p1['</s>']), 0],
      我: [log10(p1['我']), log10(gamma['我'])],
      你: [log10(p1['你']), log10(gamma['你'])],
      他: [log10(p1['他']), log10(gamma['他'])],
    };
    for (const e of unigrams) {
      expect(e.log10Prob).toBeCloseTo(expected1[e.words[0]][0], 6);
      expect(e.log10Backoff).toBeCloseTo(expected1[e.words[0]][1], 6);
    }
    const bigrams = model.entries(2);
    // Suffix order: by the id of the last word (</s> 2, 我 3, 你 4, 他 5), then the first.
    expect(bigrams.map((e) => e.words.join(' '))).toEqual(['你 </s>', '<s> 我', '你 我', '他 我', '我 你', '我 他']);
    for (const e of bigrams) expect(e.log10Prob).toBeCloseTo(log10(p2[e.words.join(' ') as keyof typeof p2]), 6);

    const arpa = model.toArpa();
    expect(arpa.startsWith('\\data\\\nngram 1=6\nngram 2=6\n\n\\1-grams:\n-1\t<unk>\t0\n-99\t<s>\t-0.30103\n')).toBe(true);
    expect(arpa).toContain('\n\\2-grams:\n');
    expect(arpa.endsWith('\t我 他\n\n\\end\\\n')).toBe(true);
    model.dispose();
  });

  test('query scores, OOVs and perplexities as KenLM query reports them', async () => {
    const model = await NgramModel.buildFromText(text, { order: 2, discountFallback: true });
    let output = '';
    const result = await model.queryText('我 你 他\n她 我\n', { level: 'word', onOutput: (t) => (output += new TextDecoder().decode(t)) });
    // 我|<s> and 你|我 are bigrams; 他|你 backs off: p(他) * gamma(你); </s>|他 backs off too.
    const s1 = [log10(p2['<s> 我']), log10(p2['我 你']), log10(p1['他']) + log10(gamma['你']), log10(p1['</s>']) + log10(gamma['他'])];
    // 她 is unknown: p(<unk>) * gamma(<s>); then 我 after <unk> (backoff 0); </s>|我 backs off.
    const s2 = [log10(p1['<unk>']) + log10(gamma['<s>']), log10(p1['我']), log10(p1['</s>']) + log10(gamma['我'])];
    const lines = output.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^我=3 2 \S+\t你=4 2 \S+\t他=5 1 \S+\t<\/s>=2 1 \S+\tTotal: \S+ OOV: 0$/);
    expect(lines[1]).toMatch(/^她=0 1 \S+\t我=3 1 \S+\t<\/s>=2 1 \S+\tTotal: \S+ OOV: 1$/);
    const numbers = (line: string): number[] => [...line.matchAll(/=\d+ \d+ (\S+)\t/g)].map((m) => Number(m[1]));
    numbers(lines[0]).forEach((x, i) => expect(x).toBeCloseTo(s1[i], 5));
    numbers(lines[1]).forEach((x, i) => expect(x).toBeCloseTo(s2[i], 5));
    const total = [...s1, ...s2].reduce((a, b) => a + b);
    expect(result.tokens).toBe(7);
    expect(result.oovs).toBe(1);
    expect(result.total).toBeCloseTo(total, 5);
    expect(result.oovTotal).toBeCloseTo(s2[0], 5);
    expect(result.perplexity).toBeCloseTo(10 ** (-total / 7), 4);
    expect(result.perplexityExcludingOovs).toBeCloseTo(10 ** (-(total - s2[0]) / 6), 4);
    model.dispose();
  });
});

describe('agreement with an independent f64 reference of lmplz', () => {
  const fallback: [number, number, number] = [0.5, 1, 1.5];
  for (const [order, sentences, vocab, useFallback] of [
    [1, 400, 400, false],
    [3, 600, 500, false],
    [4, 900, 500, false],
    [6, 1200, 500, true], // some orders need the fallback discounts here
  ] as const) {
    test(`order ${order}: n-gram set, output order, counts-of-counts, discounts, probabilities, backoffs`, async () => {
      const text = syntheticCorpus(sentences, vocab, 12345 + order);
      const ref = referenceModel(text, order, useFallback ? fallback : undefined);
      const model = await NgramModel.buildFromText(text, { order, discountFallback: useFallback ? fallback : false });
      expect(model.vocabulary()).toEqual(ref.vocabulary);
      for (let k = 1; k <= order; k++) {
        const stats = model.stats!.orders[k - 1];
        if (!useFallback) expect(stats.fallback).toBe(false);
        expect(stats.countsOfCounts).toEqual(ref.countsOfCounts[k - 1]);
        stats.discounts.forEach((d, j) => expect(d).toBeCloseTo(ref.discounts[k - 1][j], 5));
        const entries = model.entries(k);
        expect(entries.map((e) => e.words.join(' '))).toEqual(ref.orders[k - 1].map((e) => e.words.join(' ')));
        let worst = 0;
        entries.forEach((e, i) => {
          const r = ref.orders[k - 1][i];
          worst = Math.max(worst, Math.abs(e.log10Prob - r.log10Prob), Math.abs(e.log10Backoff - r.log10Backoff));
        });
        expect(worst).toBeLessThan(1e-5);
      }
      model.dispose();
    });
  }
});

test('for every context, probabilities over the vocabulary sum to 1', async () => {
  const text = syntheticCorpus(500, 300, 7);
  const model = await NgramModel.buildFromText(text, { order: 3 });
  const vocab = model.vocabulary().filter((w) => w !== '<s>'); // <s> is never predicted
  const contexts: string[][] = [[]];
  for (let k = 1; k < 3; k++) {
    // Every 7th context of each order keeps the test quick.
    model.entries(k).forEach((e, i) => {
      if (i % 7 === 0 && e.words[e.words.length - 1] !== '</s>') contexts.push(e.words);
    });
  }
  // Contexts that are not in the model (unseen pairs) back off and must sum to 1 as well.
  contexts.push(['w1', 'w2'], ['</s>', 'w3'], ['<s>', 'unseen-word']);
  expect(contexts.length).toBeGreaterThan(100);
  let worst = 0;
  for (const context of contexts) {
    const sum = vocab.reduce((s, w) => s + 10 ** model.log10Prob(context, w), 0);
    worst = Math.max(worst, Math.abs(sum - 1));
  }
  expect(worst).toBeLessThan(2e-5);
  model.dispose();
});

describe('ARPA', () => {
  test('write, read and write again gives the same bytes', async () => {
    const model = await NgramModel.buildFromText(syntheticCorpus(900, 500, 12349), { order: 4 });
    const first = model.toArpa();
    const read = await NgramModel.fromArpaText(first);
    expect(read.counts).toEqual(model.counts);
    const second = read.toArpa();
    expect(second).toBe(first);
    expect((await NgramModel.fromArpaText(second)).toArpa()).toBe(first);
    // The model read back scores exactly like the built one.
    const probe = 'w1 w2 w3 w4 w5\nw7 nonsense w1\n';
    expect((await read.queryText(probe)).total).toBe((await model.queryText(probe)).total);
  });

  test('streams: any chunking of the input gives the same model', async () => {
    const text = syntheticCorpus(300, 300, 5);
    const bytes = new TextEncoder().encode(text.trimEnd()); // also: no newline after the last line
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 7) pieces.push(bytes.subarray(i, i + 7));
    const whole = await NgramModel.buildFromText(text, { order: 3 });
    const chunked = await NgramModel.build(pieces, { order: 3 });
    expect(chunked.toArpa()).toBe(whole.toArpa());
    const arpaPieces = Array.from(whole.arpaChunks(1000), (piece) => piece.slice());
    expect(arpaPieces.length).toBeGreaterThan(3);
    expect((await NgramModel.readArpa(arpaPieces)).toArpa()).toBe(whole.toArpa());
  });

  test('reads ARPA from other tools: header comments, missing backoffs, CRLF, <s>/<unk> conventions', async () => {
    const arpa = [
      '# written by hand',
      '',
      '\\data\\',
      'ngram 1=4',
      'ngram 2=2',
      '',
      '\\1-grams:',
      '-1.5\t<unk>',
      '-99\t<s>\t-0.5',
      '-0.5\t</s>',
      '-0.3\ta\t-0.25',
      '',
      '\\2-grams:',
      '-0.2\t<s> a',
      '-0.1\ta </s>',
      '',
      '\\end\\',
      '',
    ].join('\r\n');
    const model = await NgramModel.fromArpaText(arpa);
    expect(model.counts).toEqual([4, 2]);
    expect(model.log10Prob(['<s>'], 'a')).toBeCloseTo(-0.2, 6);
    expect(model.log10Prob(['a'], 'a')).toBeCloseTo(-0.3 - 0.25, 6);
    expect(model.log10Prob(['a'], 'zzz')).toBeCloseTo(-1.5 - 0.25, 6);
    expect(model.toArpa()).toContain('-0.5\t</s>\t0\n');
  });

  const bad: [string, string, RegExp][] = [
    ['not ARPA', 'hello world\n', /no "\\data\\" line/],
    ['no counts', '\\data\\\n\n\\1-grams:\n', /declares no n-gram counts|count line/],
    ['bad count line', '\\data\\\nngram 2=3\n', /bad count line/],
    ['bad number', '\\data\\\nngram 1=1\n\n\\1-grams:\nminus-one\ta\n\n\\end\\\n', /line 5.*not a number/],
    ['too few n-grams', '\\data\\\nngram 1=3\n\n\\1-grams:\n-1\ta\n\n\\end\\\n', /fewer n-grams than/],
    ['unknown word', '\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\t0\n\n\\2-grams:\n-1\ta b\n\n\\end\\\n', /line 9.*not among the unigrams/],
    ['missing end', '\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n', /missing "\\end\\"/],
    ['wrong fields', '\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\t0\n\n\\2-grams:\n-1\ta\n\n\\end\\\n', /wrong number of fields/],
  ];
  for (const [name, text, message] of bad) {
    test(`malformed ARPA (${name}) is a clear error`, async () => {
      const error = await NgramModel.fromArpaText(text).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as Error).message).toMatch(message);
    });
  }
});

test('word boundaries as in lmplz (NUL, tab, CR, space) and query (tab, VT, FF, CR, space)', async () => {
  const model = await NgramModel.buildFromText('a\fb c\td\0e\r\n', { order: 1, discountFallback: true });
  expect(model.vocabulary().slice(3)).toEqual(['a\fb', 'c', 'd', 'e']);
  const result = await model.queryText('a\fb c\n');
  expect(result.tokens).toBe(4); // a, b, c, </s>: form feed separates words for query
  expect(result.oovs).toBe(2);
});

describe('bad build input', () => {
  test('empty text', async () => {
    await expect(NgramModel.buildFromText('', { order: 3 })).rejects.toThrow(/training text is empty/);
    await expect(NgramModel.buildFromText('\n\n', { order: 3 })).rejects.toThrow(/no words/);
    await expect(NgramModel.buildFromText('<s> </s>\n', { order: 3, skipSymbols: true })).rejects.toThrow(/no words/);
  });

  test('order 0, fractional or too large', async () => {
    for (const order of [0, -1, 2.5, 1000]) {
      await expect(NgramModel.buildFromText('a b\n', { order })).rejects.toThrow(/order must be an integer/);
    }
  });

  test('fallback discounts out of range', async () => {
    await expect(NgramModel.buildFromText('a b\n', { order: 2, discountFallback: [0.5, 3, 1] })).rejects.toThrow(/D2=3/);
  });

  test('<s>, </s>, <unk> in the text: an error, or spaces with skipSymbols (lmplz --skip_symbols)', async () => {
    await expect(NgramModel.buildFromText('a <s> b\n', { order: 2, discountFallback: true })).rejects.toThrow(/--skip-symbols/);
    const a = await NgramModel.buildFromText('a <s> b </s> c <unk>\nb c\n', { order: 2, discountFallback: true, skipSymbols: true });
    const b = await NgramModel.buildFromText('a b c\nb c\n', { order: 2, discountFallback: true });
    expect(a.stats!.skippedSpecialTokens).toBe(3);
    expect(a.toArpa()).toBe(b.toArpa());
  });
});

test('floats are written in their shortest round-trip form, as KenLM (double-conversion) does', async () => {
  const w = await ngramWasm();
  const format = (x: number): string => {
    const length = w.formatF32(x) >>> 0;
    return new TextDecoder().decode(new Uint8Array(w.memory.buffer, w.formatOutPtr() >>> 0, length));
  };
  expect(format(-0.30103)).toBe('-0.30103');
  expect(format(-99)).toBe('-99');
  expect(format(0)).toBe('0');
  expect(format(1e-6)).toBe('0.000001');
  expect(format(1.5e-7)).toBe('1.5e-7');
  expect(format(123456789)).toBe('123456790');
  expect(format(286394.125)).toBe('286394.12'); // tie: round half to even
  // Random floats: the text reads back as the same float and no shorter text would.
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  let state = 1;
  const wrong: string[] = [];
  for (let i = 0; i < 20000; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    u32[0] = (state & 0x7fffffff) | (i & 1 ? 0x80000000 : 0);
    const x = f32[0];
    if (!Number.isFinite(x) || x === 0) continue;
    const text = format(x);
    const digits = text.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length;
    const shorter = digits > 1 && Math.fround(Number(x.toPrecision(digits - 1))) === x;
    if (Math.fround(Number(text)) !== x || shorter) wrong.push(`${x} -> ${text}`);
  }
  expect(wrong).toEqual([]);
});
