// The tokenizer API the rest of webtrain codes against (`webtrain prepare`, `webtrain tokenizer`).
// Two kinds stand behind it: byte-level BPE (GPT-2 style) and WordPiece (BERT style), both running
// in the text Wasm module; this file is the stable surface and the loader.
import { CorruptFileError, InputError } from '../errors.js';
import { platform } from '../platform/index.js';
import { BpeTokenizer, bpeSpecFromTokenizerJson, gpt2Spec } from './bpe.js';
import { WordPieceTokenizer, parseBertVocab, wordPieceSpecFromTokenizerJson } from './wordpiece.js';
import { textWasm } from './wasm.js';

export { trainBpe, trainWordPiece, type TrainOptions, type WordPieceTrainOptions } from './train.js';

/** A loaded tokenizer. Instances hold Wasm memory: call `dispose()` when done with many of them. */
export interface Tokenizer {
  readonly kind: 'bpe' | 'wordpiece';
  /** Number of ids, special tokens included (ids are 0 .. vocabSize-1). */
  readonly vocabSize: number;
  /** Special tokens (e.g. `<|endoftext|>`, `[CLS]`) and their ids. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** End-of-document id to put between documents in shards (`<|endoftext|>` or `[SEP]`), if any. */
  readonly eosId: number | undefined;
  /**
   * Token ids of `text`, without added special tokens (no [CLS]/[SEP]). Special-token strings inside
   * `text` are encoded as ordinary text, so documents cannot forge them.
   */
  encode(text: string): Uint32Array;
  /** Text of `ids` (WordPiece joins `##` pieces and puts spaces between words). */
  decode(ids: ArrayLike<number>): string;
  /** The token string of an id (BPE: in the byte-to-unicode alphabet), or undefined. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /** Hugging Face `tokenizer.json` text for this tokenizer. */
  toJSON(): string;
  /** Frees the Wasm-side tables. */
  dispose(): void;
}

/** A tokenizer from the text of a Hugging Face `tokenizer.json` (model BPE, byte-level, or WordPiece). */
export async function tokenizerFromJson(text: string, source = 'tokenizer.json'): Promise<Tokenizer> {
  let json: Record<string, any>;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CorruptFileError(`${source}: not valid JSON (${(e as Error).message}).`);
  }
  const type = json?.model?.type;
  const wasm = await textWasm();
  if (type === 'BPE') return new BpeTokenizer(wasm, bpeSpecFromTokenizerJson(json, source), source);
  if (type === 'WordPiece') return new WordPieceTokenizer(wasm, wordPieceSpecFromTokenizerJson(json, source), source);
  throw new InputError(`${source}: model type ${JSON.stringify(type ?? null)} is not supported; use a BPE (byte-level) or WordPiece tokenizer.json.`);
}

/** GPT-2's files: `encoder.json` + `vocab.bpe`, or `vocab.json` + `merges.txt`. */
export async function tokenizerFromGpt2Files(vocabText: string, mergesText: string, source = 'GPT-2 files'): Promise<Tokenizer> {
  return new BpeTokenizer(await textWasm(), gpt2Spec(vocabText, mergesText, source), source);
}

/**
 * A BERT `vocab.txt` (one token per line, id = line number). `lowercase` (with accent stripping) defaults
 * to true for a vocabulary without upper-case tokens (bert-base-uncased) and false otherwise (bert-base-cased).
 */
export async function tokenizerFromBertVocab(vocabText: string, options: { lowercase?: boolean } = {}, source = 'vocab.txt'): Promise<Tokenizer> {
  return new WordPieceTokenizer(await textWasm(), parseBertVocab(vocabText, options.lowercase, source), source);
}

const utf8 = new TextDecoder('utf-8');

/**
 * Loads a tokenizer from `path`: a Hugging Face `tokenizer.json`; a folder holding GPT-2's
 * `encoder.json` + `vocab.bpe` or `vocab.json` + `merges.txt` (or a `tokenizer.json` or BERT `vocab.txt`);
 * or a BERT `vocab.txt`. Throws InputError / CorruptFileError saying what is wrong.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const p = platform();
  if (!(await p.exists(path))) throw new InputError(`tokenizer ${path} does not exist.`);
  const read = async (file: string) => utf8.decode(await p.readFile(file));
  let entries: string[] | null = null;
  try {
    entries = await p.listDir(path);
  } catch {
    entries = null; // a file, not a folder
  }
  if (entries) {
    const dir = path.replace(/\/+$/, '');
    const has = (name: string) => entries!.includes(name);
    if (has('tokenizer.json')) return tokenizerFromJson(await read(`${dir}/tokenizer.json`), `${dir}/tokenizer.json`);
    if (has('encoder.json') && has('vocab.bpe')) return tokenizerFromGpt2Files(await read(`${dir}/encoder.json`), await read(`${dir}/vocab.bpe`), dir);
    if (has('vocab.json') && has('merges.txt')) return tokenizerFromGpt2Files(await read(`${dir}/vocab.json`), await read(`${dir}/merges.txt`), dir);
    if (has('vocab.txt')) return tokenizerFromBertVocab(await read(`${dir}/vocab.txt`), {}, `${dir}/vocab.txt`);
    throw new InputError(`${path} holds no tokenizer: expected tokenizer.json, encoder.json + vocab.bpe, vocab.json + merges.txt, or vocab.txt.`);
  }
  const text = await read(path);
  if (text.trimStart().startsWith('{')) return tokenizerFromJson(text, path);
  return tokenizerFromBertVocab(text, {}, path);
}
