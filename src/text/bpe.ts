// Byte-level BPE (GPT-2 style) behind the Tokenizer interface. The vocabulary and merges live in the
// text Wasm module (assembly/text/bpe.ts), which pre-tokenises, merges and caches; this side parses
// and writes the file formats (GPT-2 encoder.json + vocab.bpe, vocab.json + merges.txt, tokenizer.json).
import { CorruptFileError, InputError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';
import type { TextWasm } from './wasm.js';
import { allocCopy, readOutputIds, readOutputText, writeIds, writeUtf8 } from './wasm_io.js';

/** GPT-2's reversible map from bytes to printable characters (so tokens are readable strings). */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : next++);
  }
  return table;
})();

const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((ch, b) => [ch, b]));
const utf8 = new TextEncoder();

/** Bytes of a token written in the byte-to-unicode alphabet, or null if it is not in that alphabet. */
export function tokenToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = UNICODE_TO_BYTE.get(token[i]!);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

export function bytesToToken(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_UNICODE[b];
  return s;
}

/** What a byte-level BPE tokenizer is made of; every loader and the trainer produce this. */
export interface BpeSpec {
  /** Token string (byte-to-unicode alphabet; special tokens as written) -> id. */
  vocab: Map<string, number>;
  /** Merges in rank order, as pairs of token strings. */
  merges: [string, string][];
  /** Special tokens -> id (each also in `vocab`). */
  specialTokens: Map<string, number>;
}

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const;
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly eosId: number | undefined;
  private readonly tokens: (string | undefined)[];
  private readonly vocab: Map<string, number>;
  private readonly merges: [string, string][];
  private handle: number;

  constructor(private readonly wasm: TextWasm, spec: BpeSpec, source: string) {
    this.vocab = spec.vocab;
    this.merges = spec.merges;
    this.specialTokens = spec.specialTokens;
    let maxId = -1;
    for (const [token, id] of spec.vocab) {
      if (!Number.isInteger(id) || id < 0) throw new CorruptFileError(`${source}: token ${JSON.stringify(token)} has id ${id}; ids must be integers >= 0.`);
      maxId = Math.max(maxId, id);
    }
    this.vocabSize = maxId + 1;
    this.tokens = new Array(this.vocabSize);
    for (const [token, id] of spec.vocab) this.tokens[id] = token;
    this.eosId = spec.specialTokens.get('<|endoftext|>') ?? spec.specialTokens.values().next().value;

    // Token bytes, concatenated, with offsets by id (ids missing from the file get no bytes).
    const pieces: Uint8Array[] = [];
    const offsets = new Uint32Array(this.vocabSize + 1);
    let total = 0;
    for (let id = 0; id < this.vocabSize; id++) {
      const token = this.tokens[id];
      let bytes: Uint8Array = new Uint8Array(0);
      if (token !== undefined) {
        const decoded = spec.specialTokens.has(token) ? utf8.encode(token) : tokenToBytes(token);
        if (!decoded) {
          throw new CorruptFileError(`${source}: token ${JSON.stringify(token)} (id ${id}) is not in GPT-2's byte-to-unicode alphabet; ` +
            'only byte-level BPE vocabularies are supported.');
        }
        bytes = decoded;
      }
      pieces.push(bytes);
      offsets[id] = total;
      total += bytes.length;
    }
    offsets[this.vocabSize] = total;
    const allBytes = new Uint8Array(total);
    pieces.forEach((p, id) => allBytes.set(p, offsets[id]!));

    const triples = new Uint32Array(spec.merges.length * 3);
    spec.merges.forEach(([left, right], rank) => {
      const a = spec.vocab.get(left);
      const b = spec.vocab.get(right);
      const merged = spec.vocab.get(left + right);
      if (a === undefined || b === undefined || merged === undefined) {
        throw new CorruptFileError(`${source}: merge ${rank + 1} "${left} ${right}" uses a token that is not in the vocabulary.`);
      }
      triples.set([a, b, merged], rank * 3);
    });

    const bytesPtr = allocCopy(wasm, allBytes);
    const offsetsPtr = allocCopy(wasm, offsets);
    this.handle = wasm.bpeCreate(this.vocabSize, bytesPtr, offsetsPtr);
    wasm.free(bytesPtr);
    wasm.free(offsetsPtr);
    const missing = wasm.bpeMissingBytes(this.handle);
    if (missing > 0) {
      this.dispose();
      throw new CorruptFileError(`${source}: ${missing} of the 256 byte values have no single-byte token; a byte-level BPE vocabulary needs all of them.`);
    }
    const triplesPtr = allocCopy(wasm, triples);
    wasm.bpeSetMerges(this.handle, triplesPtr, spec.merges.length);
    wasm.free(triplesPtr);
  }

  encode(text: string): Uint32Array {
    this.check();
    const { ptr, len } = writeUtf8(this.wasm, text);
    const count = this.wasm.bpeEncode(this.handle, ptr, len);
    return readOutputIds(this.wasm, count);
  }

  decode(ids: ArrayLike<number>): string {
    this.check();
    const ptr = writeIds(this.wasm, ids);
    const len = this.wasm.bpeDecode(this.handle, ptr, ids.length);
    if (len < 0) {
      const at = -1 - len;
      throw new InputError(`decode: id ${ids[at]} at position ${at} is outside the vocabulary (0..${this.vocabSize - 1}).`);
    }
    return readOutputText(this.wasm, len);
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  toJSON(): string {
    const addedTokens = [...this.specialTokens].sort((a, b) => a[1] - b[1]).map(([content, id]) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    }));
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    const vocab: Record<string, number> = {};
    for (let id = 0; id < this.vocabSize; id++) {
      const token = this.tokens[id];
      if (token !== undefined) vocab[token] = id;
    }
    return JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: this.merges,
      },
    });
  }

  dispose(): void {
    if (this.handle >= 0) this.wasm.bpeDispose(this.handle);
    this.handle = -1;
  }

  private check(): void {
    if (this.handle < 0) throw new InputError('this tokenizer was disposed; load it again.');
  }
}

/** Merges from GPT-2's vocab.bpe / merges.txt text: an optional `#version` line, then "left right" per line. */
export function parseMergesText(text: string, source: string): [string, string][] {
  const merges: [string, string][] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new CorruptFileError(`${source}: line ${i + 1} is not a merge ("left right"): ${JSON.stringify(line.slice(0, 80))}.`);
    }
    merges.push([parts[0], parts[1]]);
  });
  return merges;
}

/** A vocabulary from GPT-2's encoder.json / vocab.json text (token -> id). */
export function parseVocabJson(text: string, source: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CorruptFileError(`${source}: not valid JSON (${(e as Error).message}).`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CorruptFileError(`${source}: expected a JSON object mapping tokens to ids.`);
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof id !== 'number') throw new CorruptFileError(`${source}: token ${JSON.stringify(token)} maps to ${JSON.stringify(id)}, not a number.`);
    vocab.set(token, id);
  }
  return vocab;
}

/** GPT-2 files (encoder.json + vocab.bpe, or vocab.json + merges.txt): `<|endoftext|>` is the special token. */
export function gpt2Spec(vocabText: string, mergesText: string, source: string): BpeSpec {
  const vocab = parseVocabJson(vocabText, source);
  const specialTokens = new Map<string, number>();
  const eot = vocab.get('<|endoftext|>');
  if (eot !== undefined) specialTokens.set('<|endoftext|>', eot);
  return { vocab, merges: parseMergesText(mergesText, source), specialTokens };
}

/** The BPE part of a parsed Hugging Face tokenizer.json. */
export function bpeSpecFromTokenizerJson(json: Record<string, any>, source: string): BpeSpec {
  const model = json.model;
  const pre = json.pre_tokenizer;
  if (pre?.type !== 'ByteLevel' || pre.use_regex === false || pre.add_prefix_space === true) {
    throw new InputError(`${source}: only GPT-2 style byte-level BPE is supported (pre_tokenizer ByteLevel with use_regex and ` +
      `without add_prefix_space); this file has ${JSON.stringify(pre ?? null).slice(0, 200)}.`);
  }
  if (model.ignore_merges) throw new InputError(`${source}: BPE with ignore_merges is not supported.`);
  if (model.byte_fallback) throw new InputError(`${source}: BPE with byte_fallback is not supported (it is not byte-level BPE).`);
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(model.vocab ?? {})) {
    if (typeof id !== 'number') throw new CorruptFileError(`${source}: model.vocab[${JSON.stringify(token)}] is not a number.`);
    vocab.set(token, id);
  }
  const rawMerges: unknown[] = model.merges ?? [];
  const merges = rawMerges.map((m, i): [string, string] => {
    // Older files write "left right", newer ones ["left", "right"].
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string' && pair[0] && pair[1]) {
      return [pair[0], pair[1]];
    }
    throw new CorruptFileError(`${source}: model.merges[${i}] is neither "left right" nor ["left", "right"].`);
  });
  const specialTokens = new Map<string, number>();
  for (const t of json.added_tokens ?? []) {
    if (typeof t?.content !== 'string' || typeof t?.id !== 'number') throw new CorruptFileError(`${source}: an added_tokens entry lacks content or id.`);
    specialTokens.set(t.content, t.id);
    vocab.set(t.content, t.id);
  }
  return { vocab, merges, specialTokens };
}
