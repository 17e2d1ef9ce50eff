import { textWasm } from '../../src/text/wasm.js';
import { GOPHER_RULES, TextCleaner } from '../../src/text/clean.js';
import { WasmBytes } from '../../src/text/stream-buffer.js';

let wasm: Awaited<ReturnType<typeof textWasm>>;
beforeAll(async () => {
  wasm = await textWasm();
});

test('Unicode is normalised to NFC or NFKC', () => {
  const nfc = new TextCleaner(wasm, 'NFC', {});
  const nfkc = new TextCleaner(wasm, 'NFKC', {});
  expect(nfc.clean('Cafe\u0301 \uFB01ne \uFF21')).toBe('Caf\u00e9 \uFB01ne \uFF21');
  expect(nfkc.clean('Cafe\u0301 \uFB01ne \uFF21')).toBe('Caf\u00e9 fine A');
  expect(new TextCleaner(wasm, 'none', {}).clean('e\u0301')).toBe('e\u0301');
});

test('control characters are removed and line ends unified; tabs, newlines and emoji joiners stay', () => {
  const cleaner = new TextCleaner(wasm, 'NFC', {});
  const buf = new WasmBytes(wasm);
  const removed = cleaner.cleanInto('\uFEFFa\u0000b\r\nc\rd\u0085e\u007f\tf\u001b[0m 👨\u200d👩\u000c', buf);
  expect(buf.toString()).toBe('ab\nc\nde\tf[0m 👨\u200d👩');
  expect(removed).toBe(8);
  buf.dispose();
});

// An independent reading of the Gopher definitions, to check the Wasm counts against.
function reference(text: string) {
  const words = text.split(/\s+/).filter(Boolean);
  const key = (w: string) => w.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const len = (w: string) => [...w].length;
  const nonspace = [...text].filter((c) => !/\s/.test(c)).length;
  const top = [2, 3, 4].map((n) => {
    const counts = new Map<string, number>();
    let best = 1;
    let bestChars = 0;
    for (let i = 0; i + n <= words.length; i++) {
      const gram = words.slice(i, i + n);
      const k = gram.map(key).join('\u0000');
      const c = (counts.get(k) ?? 0) + 1;
      counts.set(k, c);
      if (c > best) {
        best = c;
        bestChars = c * gram.reduce((s, w) => s + len(w), 0);
      }
    }
    return bestChars / nonspace;
  });
  const dup = [5, 6, 7, 8, 9, 10].map((n) => {
    const seen = new Set<string>();
    let repeated = 0;
    let i = 0;
    while (i + n <= words.length) {
      const gram = words.slice(i, i + n);
      const k = gram.map(key).join('\u0000');
      if (seen.has(k)) {
        repeated += gram.reduce((s, w) => s + len(w), 0);
        i += n;
      } else {
        seen.add(k);
        i++;
      }
    }
    return repeated / nonspace;
  });
  // Lines compare by their words, so spacing does not matter.
  const lines = text.split('\n').map((l) => l.split(/\s+/).filter(Boolean).map(key).join(' ')).filter(Boolean);
  const seenLines = new Set<string>();
  let dupLines = 0;
  let dupLineChars = 0;
  for (const l of lines) {
    if (seenLines.has(l)) {
      dupLines++;
      dupLineChars += [...l.replace(/ /g, '')].length;
    }
    seenLines.add(l);
  }
  return { words: words.length, nonspace, top, dup, dupLineFraction: dupLines / lines.length, dupLineCharFraction: dupLineChars / nonspace };
}

test('quality measures match an independent implementation of the Gopher definitions', () => {
  const cleaner = new TextCleaner(wasm, 'NFC', GOPHER_RULES);
  const buf = new WasmBytes(wasm);
  const texts = [
    'the cat sat on the mat and the cat sat on the mat again while the dog sat on the rug and the cat sat on the mat',
    'Buy now! Buy now! Buy now! limited offer, limited offer\nBuy now! Buy now!\n  limited offer,   LIMITED offer \nclick here\nbuy NOW! buy now!',
    'Ünïcödé wörds ärë cöüntëd äs öne chäräcter each, and words like naïve café résumé repeat: naïve café résumé naïve café résumé.',
    'a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s t u v w x y z',
    // Long enough for the scratch arrays and the table to grow: 6000 words, some runs repeated.
    Array.from({ length: 6000 }, (_, i) => `w${(i * 7919) % (i % 500 < 50 ? 37 : 4001)}` + (i % 9 === 8 ? '\n' : ' ')).join(''),
  ];
  for (const text of texts) {
    cleaner.cleanInto(text, buf);
    const got = cleaner.measure(buf);
    const want = reference(text);
    expect(got.words).toBe(want.words);
    expect(got.meanWordLength).toBeCloseTo(want.nonspace / want.words, 10);
    got.topNgramCharFraction.forEach((v, i) => expect(v).toBeCloseTo(want.top[i], 10));
    got.duplicateNgramCharFraction.forEach((v, i) => expect(v).toBeCloseTo(want.dup[i], 10));
    expect(got.duplicateLineFraction).toBeCloseTo(want.dupLineFraction, 10);
    expect(got.duplicateLineCharFraction).toBeCloseTo(want.dupLineCharFraction, 10);
  }
  const s = (cleaner.cleanInto('Call 555 0199 #tag #tag... ok…\n- one\n- two\nthe end...', buf), cleaner.measure(buf));
  expect(s.digitRatio).toBeCloseTo(7 / 42, 10); // 42 non-space characters
  expect(s.symbolRatio).toBeCloseTo(11 / 42, 10); // # # ... … - - ...
  expect(s.hashEllipsisRatio).toBeCloseTo(5 / 12, 10); // two '#', three ellipses, 12 words
  expect(s.bulletLineFraction).toBeCloseTo(2 / 4, 10);
  expect(s.ellipsisLineFraction).toBeCloseTo(2 / 4, 10);
  expect(s.stopWords).toBe(1);
  buf.dispose();
});

test('each rule removes what it should, and documents are counted under the first rule they fail', () => {
  const cleaner = new TextCleaner(wasm, 'NFC', {
    ...GOPHER_RULES,
    minWords: 10,
    maxSymbolRatio: 0.25,
    maxDigitRatio: 0.2,
  });
  const good =
    'The committee said that the plan would be discussed with the members of the board and that a decision would follow next week.';
  const cases: [string, string | null][] = [
    [good, null],
    ['Too short to be a document here.', 'min-words'],
    ['Supercalifragilisticexpialidocious antidisestablishmentarianism floccinaucinihilipilification ' +
      'pneumonoultramicroscopicsilicovolcanoconiosis hippopotomonstrosesquippedaliophobia ' +
      'the and of with incomprehensibilities uncharacteristically counterrevolutionaries', 'max-mean-word-length'],
    ['The $$$ price of the @@@ item is %%% and &&& with ^^^ the *** and the === of the !!! deal.', 'max-symbol-ratio'],
    ['The 2024 figures show 123456 units of the 789012 total and 345678 with the 901234 rest 5678.', 'max-digit-ratio'],
    ['We went to the park and then we went to the park and then we went to the park and then we went to the park.', 'max-top-2gram'],
    ['Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.', 'min-stop-words'],
  ];
  for (const [text, rule] of cases) expect([text, cleaner.assess(text).failedRule]).toEqual([text, rule]);
  expect(cleaner.ruleNames).toContain('max-duplicate-lines');
});
