// WordPiece (BERT) behind the Tokenizer interface. Unicode work (NFD, accent stripping,
// lower-casing) happens here with JS's own tables; splitting and the greedy longest-match search
// run in the text Wasm module (assembly/text/wordpiece.ts, bert_basic.ts).
import { CorruptFileError, InputError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';
import type { TextWasm } from './wasm.js';
import { allocCopy, readOutputIds, writeUtf8 } from './wasm_io.js';

export const CONTINUATION_PREFIX = '##';
export const BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

export interface WordPieceSpec {
  /** Token (continuations written with `##`) -> id. */
  vocab: Map<string, number>;
  unkToken: string;
  lowercase: boolean;
  stripAccents: boolean;
  /** Words longer than this many characters become the unknown token (BERT: 100). */
  maxInputCharsPerWord: number;
  specialTokens: Map<string, number>;
}

/** Lower-cases one code point at a time, as BERT's normaliser does (so no final-sigma rule). */
function lowerCaseCharWise(text: string): string {
  if (!text.includes('\u03a3')) return text.toLowerCase(); // Σ is the only context-dependent mapping
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

/** BERT's Unicode normalisation: NFD and dropping combining marks (accent stripping), then lower-casing. */
export function bertNormalize(text: string, lowercase: boolean, stripAccents: boolean): string {
  if (stripAccents) text = text.normalize('NFD').replace(/\p{Mn}/gu, '');
  if (lowercase) text = lowerCaseCharWise(text);
  return text;
}

export class WordPieceTokenizer implements Tokenizer {
  readonly kind = 'wordpiece' as const;
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly eosId: number | undefined;
  private readonly tokens: (string | undefined)[];
  private handle: number;

  constructor(private readonly wasm: TextWasm, private readonly spec: WordPieceSpec, source: string) {
    const unkId = spec.vocab.get(spec.unkToken);
    if (unkId === undefined) throw new CorruptFileError(`${source}: the unknown token ${spec.unkToken} is not in the vocabulary.`);
    this.specialTokens = spec.specialTokens;
    this.eosId = spec.specialTokens.get('[SEP]');
    let maxId = -1;
    for (const id of spec.vocab.values()) {
      if (!Number.isInteger(id) || id < 0) throw new CorruptFileError(`${source}: id ${id} is not an integer >= 0.`);
      maxId = Math.max(maxId, id);
    }
    this.vocabSize = maxId + 1;
    this.tokens = new Array(this.vocabSize);
    for (const [token, id] of spec.vocab) this.tokens[id] ??= token;

    const encoder = new TextEncoder();
    const entries = [...spec.vocab].sort((a, b) => a[1] - b[1]);
    const encoded = entries.map(([token]) => encoder.encode(token.startsWith(CONTINUATION_PREFIX) ? token.slice(2) : token));
    const offsets = new Uint32Array(entries.length + 1);
    for (let k = 0; k < entries.length; k++) offsets[k + 1] = offsets[k]! + encoded[k]!.length;
    const bytes = new Uint8Array(offsets[entries.length]!);
    encoded.forEach((b, k) => bytes.set(b, offsets[k]!));
    const ids = new Uint32Array(entries.map(([token, id]) => (id | (token.startsWith(CONTINUATION_PREFIX) ? 0x80000000 : 0)) >>> 0));
    const pointers = [allocCopy(wasm, bytes), allocCopy(wasm, offsets), allocCopy(wasm, ids)] as const;
    this.handle = wasm.wordPieceCreate(entries.length, pointers[0], pointers[1], pointers[2], unkId, spec.maxInputCharsPerWord);
    for (const p of pointers) wasm.free(p);
  }

  encode(text: string): Uint32Array {
    this.check();
    const { ptr, len } = writeUtf8(this.wasm, bertNormalize(text, this.spec.lowercase, this.spec.stripAccents));
    const count = this.wasm.wordPieceEncode(this.handle, ptr, len);
    return readOutputIds(this.wasm, count);
  }

  /** Joins pieces as Hugging Face's WordPiece decoder does (with its clean-up of spaces before punctuation). */
  decode(ids: ArrayLike<number>): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const token = this.tokens[ids[i]!];
      if (token === undefined) throw new InputError(`decode: id ${ids[i]} at position ${i} is not in the vocabulary.`);
      if (i > 0 && token.startsWith(CONTINUATION_PREFIX)) out += token.slice(2);
      else out += (i > 0 ? ' ' : '') + token;
    }
    return out
      .replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',')
      .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(' do not', " don't")
      .replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.spec.vocab.get(token);
  }

  toJSON(): string {
    const vocab: Record<string, number> = {};
    for (const [token, id] of [...this.spec.vocab].sort((a, b) => a[1] - b[1])) vocab[token] = id;
    const cls = this.specialTokens.get('[CLS]');
    const sep = this.specialTokens.get('[SEP]');
    return JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [...this.specialTokens].sort((a, b) => a[1] - b[1]).map(([content, id]) => ({
        id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
      })),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: this.spec.stripAccents, lowercase: this.spec.lowercase },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: cls !== undefined && sep !== undefined ? { type: 'BertProcessing', sep: ['[SEP]', sep], cls: ['[CLS]', cls] } : null,
      decoder: { type: 'WordPiece', prefix: CONTINUATION_PREFIX, cleanup: true },
      model: {
        type: 'WordPiece', unk_token: this.spec.unkToken, continuing_subword_prefix: CONTINUATION_PREFIX,
        max_input_chars_per_word: this.spec.maxInputCharsPerWord, vocab,
      },
    });
  }

  dispose(): void {
    if (this.handle >= 0) this.wasm.wordPieceDispose(this.handle);
    this.handle = -1;
  }

  private check(): void {
    if (this.handle < 0) throw new InputError('this tokenizer was disposed; load it again.');
  }
}

/**
 * A BERT vocab.txt: one token per line, the id is the line number. Without `lowercase`, a vocabulary
 * whose tokens (other than [BRACKETED] special ones) all lower-case to themselves is taken as uncased (lower-case
 * and strip accents, as bert-base-uncased), any other as cased (bert-base-cased).
 */
export function parseBertVocab(text: string, lowercase: boolean | undefined, source: string): WordPieceSpec {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const vocab = new Map<string, number>();
  lines.forEach((token, id) => {
    if (!vocab.has(token)) vocab.set(token, id);
  });
  if (!vocab.has('[UNK]')) throw new CorruptFileError(`${source}: no [UNK] line; is this a BERT vocab.txt?`);
  lowercase ??= !lines.some((token) => !/^\[.*\]$/.test(token) && token.toLowerCase() !== token);
  const specialTokens = new Map(BERT_SPECIAL_TOKENS.filter((t) => vocab.has(t)).map((t) => [t, vocab.get(t)!]));
  return { vocab, unkToken: '[UNK]', lowercase, stripAccents: lowercase, maxInputCharsPerWord: 100, specialTokens };
}

/** The WordPiece part of a parsed Hugging Face tokenizer.json. */
export function wordPieceSpecFromTokenizerJson(json: Record<string, any>, source: string): WordPieceSpec {
  const model = json.model;
  const prefix = model.continuing_subword_prefix ?? CONTINUATION_PREFIX;
  if (prefix !== CONTINUATION_PREFIX) throw new InputError(`${source}: continuing_subword_prefix ${JSON.stringify(prefix)} is not supported (only "##").`);
  const norm = json.normalizer;
  if (norm && (norm.type !== 'BertNormalizer' || norm.clean_text === false || norm.handle_chinese_chars === false)) {
    throw new InputError(`${source}: only the BertNormalizer (with clean_text and handle_chinese_chars) is supported, found ${JSON.stringify(norm).slice(0, 200)}.`);
  }
  if (json.pre_tokenizer?.type !== 'BertPreTokenizer') {
    throw new InputError(`${source}: only the BertPreTokenizer is supported with WordPiece, found ${JSON.stringify(json.pre_tokenizer?.type ?? null)}.`);
  }
  const lowercase = norm ? norm.lowercase !== false : false;
  const stripAccents = norm ? (norm.strip_accents ?? lowercase) === true : false;
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(model.vocab ?? {})) {
    if (typeof id !== 'number') throw new CorruptFileError(`${source}: model.vocab[${JSON.stringify(token)}] is not a number.`);
    vocab.set(token, id);
  }
  const specialTokens = new Map<string, number>();
  for (const t of json.added_tokens ?? []) {
    if (typeof t?.content !== 'string' || typeof t?.id !== 'number') throw new CorruptFileError(`${source}: an added_tokens entry lacks content or id.`);
    if (t.special !== false) specialTokens.set(t.content, t.id);
    vocab.set(t.content, t.id);
  }
  return {
    vocab, unkToken: model.unk_token ?? '[UNK]', lowercase, stripAccents,
    maxInputCharsPerWord: model.max_input_chars_per_word ?? 100, specialTokens,
  };
}
