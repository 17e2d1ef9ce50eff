// Training byte-level BPE and WordPiece vocabularies. Both count words in the Wasm module and run
// the same merge trainer there (assembly/text/bpe_train.ts): BPE over bytes of GPT-2 pre-tokens,
// WordPiece over the characters of BERT words (continuations become `##` tokens), as Hugging Face's
// WordPiece trainer also does.
import { InputError } from '../errors.js';
import { BpeTokenizer, bytesToToken } from './bpe.js';
import type { Tokenizer } from './tokenizer.js';
import { textWasm, type TextWasm } from './wasm.js';
import { BERT_SPECIAL_TOKENS, CONTINUATION_PREFIX, WordPieceTokenizer, bertNormalize } from './wordpiece.js';
import { writeUtf8 } from './wasm_io.js';

export interface TrainOptions {
  /** Size of the vocabulary: special tokens + alphabet + merges. */
  vocabSize: number;
  /** Pairs seen fewer times than this are not merged (default 2). */
  minFrequency?: number;
  /** Special tokens, given the first ids (BPE default: `<|endoftext|>`; WordPiece: [PAD] [UNK] [CLS] [SEP] [MASK]). */
  specialTokens?: string[];
  /** Called as merges are made: (merges so far, merges wanted at most). */
  onProgress?: (done: number, total: number) => void;
}

export interface WordPieceTrainOptions extends TrainOptions {
  /** Lower-case and strip accents, as bert-base-uncased (default true). */
  lowercase?: boolean;
}

type Texts = Iterable<string> | AsyncIterable<string>;

const MODE_BYTES = 0;
const MODE_CHARS = 1;
const MERGES_PER_STEP = 256;

interface TrainedTables {
  /** Trained token bytes and whether each is a WordPiece continuation, by id - firstId. */
  tokens: { bytes: Uint8Array; continuation: boolean }[];
  merges: [number, number][];
}

async function runTrainer(wasm: TextWasm, mode: number, texts: Texts, count: (h: number, ptr: number, len: number) => void,
  options: TrainOptions, specials: string[], prepare: (t: string) => string = (t) => t): Promise<TrainedTables> {
  const handle = wasm.bpeTrainerNew(mode);
  try {
    for await (const text of texts) {
      const { ptr, len } = writeUtf8(wasm, prepare(text));
      count(handle, ptr, len);
    }
    if (wasm.bpeTrainerWordCount(handle) === 0) throw new InputError('training input has no words; give it some text.');
    const firstId = specials.length;
    const alphabet = wasm.bpeTrainerInit(handle, firstId);
    if (options.vocabSize < firstId + alphabet) {
      throw new InputError(`vocabulary size ${options.vocabSize} is below the ${firstId} special tokens + ${alphabet} alphabet tokens; raise --vocab-size.`);
    }
    const wanted = options.vocabSize - firstId - alphabet;
    let done = 0;
    for (;;) {
      const made = wasm.bpeTrainerStep(handle, options.vocabSize, options.minFrequency ?? 2, MERGES_PER_STEP);
      done += made;
      options.onProgress?.(Math.min(done, wanted), wanted);
      if (made < MERGES_PER_STEP) break;
    }
    const tokenBytes = wasm.bpeTrainerTokens(handle);
    const view = new DataView(wasm.memory.buffer, wasm.outputPtr(), tokenBytes);
    const raw = new Uint8Array(wasm.memory.buffer, wasm.outputPtr(), tokenBytes);
    const n = view.getUint32(0, true);
    const tokens = [];
    for (let e = 0; e < n; e++) {
      const at = view.getUint32(4 + e * 8, true);
      const lenAndTag = view.getUint32(8 + e * 8, true);
      const len = lenAndTag & 0x7fffffff;
      tokens.push({ bytes: raw.slice(at, at + len), continuation: lenAndTag >>> 31 === 1 });
    }
    const mergeCount = wasm.bpeTrainerMerges(handle);
    const triples = new Uint32Array(wasm.memory.buffer, wasm.outputPtr(), mergeCount * 3);
    const merges: [number, number][] = [];
    for (let i = 0; i < mergeCount; i++) merges.push([triples[i * 3]!, triples[i * 3 + 1]!]);
    return { tokens, merges };
  } finally {
    wasm.bpeTrainerDispose(handle);
  }
}

function checkOptions(options: TrainOptions): void {
  if (!Number.isInteger(options.vocabSize) || options.vocabSize <= 0) throw new InputError(`vocabulary size must be a positive integer, got ${options.vocabSize}.`);
  if (options.minFrequency !== undefined && !(options.minFrequency >= 0)) throw new InputError(`minimum frequency must be >= 0, got ${options.minFrequency}.`);
}

/** Trains a byte-level BPE tokenizer (GPT-2 pre-tokenisation) on `texts` (each a document). */
export async function trainBpe(texts: Texts, options: TrainOptions): Promise<Tokenizer> {
  checkOptions(options);
  const wasm = await textWasm();
  const specials = options.specialTokens ?? ['<|endoftext|>'];
  const { tokens, merges } = await runTrainer(wasm, MODE_BYTES, texts, (h, p, l) => wasm.bpeTrainerCountText(h, p, l), options, specials);
  const vocab = new Map<string, number>();
  specials.forEach((t, id) => vocab.set(t, id));
  const names = tokens.map((t) => bytesToToken(t.bytes));
  names.forEach((name, e) => {
    if (!vocab.has(name)) vocab.set(name, specials.length + e);
  });
  const mergeNames = merges.map(([a, b]): [string, string] => [names[a - specials.length]!, names[b - specials.length]!]);
  const specialTokens = new Map(specials.map((t, id) => [t, id]));
  return new BpeTokenizer(wasm, { vocab, merges: mergeNames, specialTokens }, 'trained BPE');
}

/** Trains a WordPiece (BERT) tokenizer on `texts`. */
export async function trainWordPiece(texts: Texts, options: WordPieceTrainOptions): Promise<Tokenizer> {
  checkOptions(options);
  const wasm = await textWasm();
  const lowercase = options.lowercase ?? true;
  const specials = options.specialTokens ?? BERT_SPECIAL_TOKENS;
  if (!specials.includes('[UNK]')) throw new InputError('WordPiece needs [UNK] among its special tokens.');
  const { tokens } = await runTrainer(wasm, MODE_CHARS, texts, (h, p, l) => wasm.bpeTrainerCountBertWords(h, p, l), options, specials,
    (t) => bertNormalize(t, lowercase, lowercase));
  const decoder = new TextDecoder();
  const vocab = new Map<string, number>();
  specials.forEach((t, id) => vocab.set(t, id));
  let next = specials.length;
  for (const t of tokens) {
    const name = (t.continuation ? CONTINUATION_PREFIX : '') + decoder.decode(t.bytes);
    if (!vocab.has(name)) vocab.set(name, next++);
  }
  const specialTokens = new Map(specials.map((t, id) => [t, id]));
  return new WordPieceTokenizer(wasm, { vocab, unkToken: '[UNK]', lowercase, stripAccents: lowercase, maxInputCharsPerWord: 100, specialTokens }, 'trained WordPiece');
}
