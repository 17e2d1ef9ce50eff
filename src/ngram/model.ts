// N-gram language models: build (interpolated modified Kneser-Ney as KenLM's lmplz), ARPA write and
// read, and scoring as KenLM's `query`. The work happens in Wasm (assembly/ngram/); this wrapper
// streams text in as chunks of whole lines, so corpora larger than memory's chunk size are fine.
// Portable: takes byte chunks from any source (Node streams in src/cli/ngram.ts, browser Files).
import { CorruptFileError, InputError } from '../errors.js';
import { newNgramInstance, type NgramWasm } from './wasm.js';

/** lmplz's --discount_fallback default. */
export const DEFAULT_DISCOUNT_FALLBACK: [number, number, number] = [0.5, 1, 1.5];
/** Longest order accepted (lmplz's default build stops at 6; the Wasm code has no fixed limit). */
export const MAX_ORDER = 32;

export interface BuildOptions {
  order: number;
  /**
   * Discounts D1, D2, D3+ to use for an order whose counts-of-counts cannot give them (tiny or
   * artificial corpora), as lmplz --discount_fallback. Without it such corpora are an error.
   * `true` means lmplz's default 0.5 1 1.5.
   */
  discountFallback?: boolean | [number, number, number];
  /**
   * Treat <s>, </s> and <unk> in the text as spaces (lmplz --skip_symbols). Without it they are an
   * error, as in lmplz, since the model gives them their own meaning.
   */
  skipSymbols?: boolean;
  /** Called after each chunk with the number of bytes consumed so far. */
  onProgress?: (bytes: number) => void;
}

export interface OrderStats {
  order: number;
  /** Number of n-grams of this order in the model. */
  ngrams: number;
  /** n_1..n_4: n-grams with adjusted count 1..4 (raw counts at the highest order). */
  countsOfCounts: [number, number, number, number];
  /** D1, D2, D3+. */
  discounts: [number, number, number];
  /** True when the fallback discounts replaced estimates that could not be made. */
  fallback: boolean;
}

export interface BuildStats {
  tokens: number;
  sentences: number;
  /** Occurrences of <s>, </s> or <unk> in the text, treated as spaces (skipSymbols). */
  skippedSpecialTokens: number;
  orders: OrderStats[];
}

export interface SentenceScore {
  /** log10 probability of the sentence, </s> included. */
  total: number;
  oovs: number;
  /** Words plus </s>. */
  tokens: number;
}

export interface QueryResult {
  /** Sum of log10 probabilities over all tokens. */
  total: number;
  /** Sum of the log10 probabilities of the OOV tokens. */
  oovTotal: number;
  oovs: number;
  tokens: number;
  perplexity: number;
  perplexityExcludingOovs: number;
  sentences: number;
}

/** How much query output to produce, as KenLM query -v: word (default), sentence, summary. */
export type QueryLevel = 'word' | 'sentence' | 'summary';

export interface QueryOptions {
  level?: QueryLevel;
  /** Receives the text output (word and sentence levels) chunk by chunk. */
  onOutput?: (text: Uint8Array) => void;
  /** Receives each sentence's score. */
  onSentence?: (s: SentenceScore) => void;
  onProgress?: (bytes: number) => void;
}

const QUERY_LEVEL = { summary: 0, sentence: 1, word: 2 } as const;
const QUERY_RECORDS = 3;

const ARPA_ERRORS: Record<number, string> = {
  1: 'no "\\data\\" line: this is not an ARPA file',
  2: 'bad count line in the \\data\\ header; expected "ngram K=COUNT" with K = 1, 2, ... in order',
  3: 'expected the section header "\\K-grams:" for the next order',
  4: 'a probability or backoff is not a number',
  5: 'wrong number of fields: an n-gram line is "log10prob<TAB>w1 ... wK[<TAB>log10backoff]"',
  6: 'the section has fewer n-grams than the \\data\\ header declares',
  7: 'an n-gram uses a word that is not among the unigrams',
  8: 'missing "\\end\\" after the last section',
  9: 'the \\data\\ header declares no n-gram counts',
  10: 'a unigram appears twice',
  11: 'unexpected text after a section (more n-grams than the \\data\\ header declares?)',
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Re-chunks bytes so that every chunk ends with a newline; a last line without one gets one. */
export async function* wholeLines(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of source) {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      carry = concat(carry, chunk);
      continue;
    }
    yield concat(carry, chunk.subarray(0, last + 1));
    carry = chunk.slice(last + 1);
  }
  if (carry.length > 0) yield concat(carry, new Uint8Array([10]));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Chunks of a string, for the text-based convenience methods. */
function textChunks(text: string): Uint8Array[] {
  return [encoder.encode(text)];
}

/** A reusable input buffer in Wasm memory. */
class Input {
  private ptr = 0;
  private cap = 0;
  constructor(private readonly w: NgramWasm) {}
  put(bytes: Uint8Array): number {
    if (bytes.length > this.cap) {
      if (this.ptr) this.w.free(this.ptr);
      this.cap = Math.max(bytes.length, 1 << 16);
      this.ptr = this.w.alloc(this.cap) >>> 0;
    }
    new Uint8Array(this.w.memory.buffer, this.ptr, bytes.length).set(bytes);
    return this.ptr;
  }
  release(): void {
    if (this.ptr) this.w.free(this.ptr);
    this.ptr = 0;
    this.cap = 0;
  }
}

export class NgramModel {
  private disposed = false;

  private constructor(
    private readonly w: NgramWasm,
    /** Statistics of the build; null for a model read from ARPA. */
    readonly stats: BuildStats | null,
  ) {}

  /** Builds a model from tokenized text, one sentence per line, words separated by whitespace. */
  static async build(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: BuildOptions): Promise<NgramModel> {
    const order = options.order;
    if (!Number.isInteger(order) || order < 1 || order > MAX_ORDER) {
      throw new InputError(`n-gram order must be an integer from 1 to ${MAX_ORDER}, got ${order}`);
    }
    const fallback =
      options.discountFallback === true
        ? DEFAULT_DISCOUNT_FALLBACK
        : Array.isArray(options.discountFallback)
          ? options.discountFallback
          : null;
    if (fallback) checkFallback(fallback);
    const w = await newNgramInstance();
    const input = new Input(w);
    w.buildBegin(order);
    let consumed = 0;
    for await (const chunk of wholeLines(source)) {
      w.buildCount(input.put(chunk), chunk.length);
      consumed += chunk.length;
      options.onProgress?.(consumed);
    }
    input.release();
    const sentences = w.buildSentences();
    const tokens = w.buildTokens();
    const specials = w.buildSkippedSpecials();
    if (specials > 0 && !options.skipSymbols) {
      throw new InputError(
        `the training text contains <s>, </s> or <unk> (${specials} times); these are reserved for sentence ` +
          'boundaries and unknown words. Remove them, or pass --skip-symbols to treat them as spaces (lmplz --skip_symbols).',
      );
    }
    if (sentences === 0) throw new InputError('the training text is empty: give one tokenized sentence per line');
    if (tokens === 0) throw new InputError('the training text has no words (only empty lines or <s>, </s>, <unk>)');
    const [d1, d2, d3] = fallback ?? DEFAULT_DISCOUNT_FALLBACK;
    if (w.buildFinish(fallback !== null, d1, d2, d3) !== 0) throw discountError(w);
    const fallbackOrders = w.buildFallbackOrders() >>> 0;
    const orders: OrderStats[] = [];
    for (let k = 1; k <= order; k++) {
      orders.push({
        order: k,
        ngrams: w.modelSize(k),
        countsOfCounts: [1, 2, 3, 4].map((c) => w.buildCountOfCounts(k, c)) as OrderStats['countsOfCounts'],
        discounts: [1, 2, 3].map((c) => w.buildDiscount(k, c)) as OrderStats['discounts'],
        fallback: (fallbackOrders & (1 << (k - 1))) !== 0,
      });
    }
    return new NgramModel(w, { tokens, sentences, skippedSpecialTokens: specials, orders });
  }

  static buildFromText(text: string, options: BuildOptions): Promise<NgramModel> {
    return NgramModel.build(textChunks(text), options);
  }

  /** Reads an ARPA model (KenLM, SRILM and others). */
  static async readArpa(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, onProgress?: (bytes: number) => void): Promise<NgramModel> {
    const w = await newNgramInstance();
    const input = new Input(w);
    w.arpaReadBegin();
    let consumed = 0;
    let code = 0;
    for await (const chunk of wholeLines(source)) {
      code = w.arpaReadLines(input.put(chunk), chunk.length);
      if (code !== 0) break;
      consumed += chunk.length;
      onProgress?.(consumed);
    }
    input.release();
    const line = w.arpaReadErrorLine();
    const order = w.arpaReadErrorOrder();
    code = w.arpaReadFinish();
    if (code !== 0) {
      const where = code === 1 || code === 8 || code === 9 ? 'at the end of the file' : `line ${line}`;
      const section = order > 0 && code !== 1 && code !== 2 && code !== 9 ? ` (order ${order})` : '';
      throw new CorruptFileError(`malformed ARPA file, ${where}${section}: ${ARPA_ERRORS[code] ?? `error ${code}`}`);
    }
    return new NgramModel(w, null);
  }

  static fromArpaText(text: string): Promise<NgramModel> {
    return NgramModel.readArpa(textChunks(text));
  }

  get order(): number {
    this.check();
    return this.w.modelOrder();
  }

  /** Number of n-grams per order, index 0 = unigrams. */
  get counts(): number[] {
    const counts: number[] = [];
    for (let k = 1; k <= this.order; k++) counts.push(this.w.modelSize(k));
    return counts;
  }

  /** Bytes of Wasm memory this model's instance holds. */
  get wasmMemoryBytes(): number {
    return this.w.memory.buffer.byteLength;
  }

  /**
   * The ARPA text, piece by piece (about `pieceBytes` each). Each piece is a view into the model's
   * memory, valid until the next one is requested: write it out (or copy it) before moving on.
   */
  *arpaChunks(pieceBytes = 1 << 20): Generator<Uint8Array> {
    this.check();
    this.w.arpaWriteBegin();
    for (;;) {
      const n = this.w.arpaWriteFill(pieceBytes) >>> 0;
      if (n === 0) return;
      yield new Uint8Array(this.w.memory.buffer, this.w.arpaWriteOutPtr() >>> 0, n);
    }
  }

  toArpa(): string {
    let text = '';
    for (const piece of this.arpaChunks()) text += decoder.decode(piece);
    return text;
  }

  /** Words of the vocabulary, by id (<unk>, <s>, </s> first for built models). */
  vocabulary(): string[] {
    this.check();
    const words: string[] = [];
    const size = this.w.vocabSize() >>> 0;
    for (let id = 0; id < size; id++) {
      const p = this.w.vocabWordPtr(id) >>> 0;
      words.push(decoder.decode(new Uint8Array(this.w.memory.buffer, p, this.w.vocabWordLen(id) >>> 0)));
    }
    return words;
  }

  /** Every n-gram of an order with its log10 probability and backoff (0 at the highest order). */
  entries(order: number): { words: string[]; log10Prob: number; log10Backoff: number }[] {
    const vocab = this.vocabulary();
    const n = this.w.modelSize(order);
    const out = [];
    for (let i = 0; i < n; i++) {
      const ids = new Uint32Array(this.w.memory.buffer, this.w.gramPtr(order, i) >>> 0, order);
      out.push({
        words: Array.from(ids, (id) => vocab[id]),
        log10Prob: this.w.gramProb(order, i),
        log10Backoff: this.w.gramBackoff(order, i),
      });
    }
    return out;
  }

  /** log10 p(word | context) by the backoff rules (context oldest first; OOVs are <unk>). */
  log10Prob(context: string[], word: string): number {
    this.check();
    const ids = [...context].reverse().map((c) => this.idOf(c));
    const p = this.w.alloc(Math.max(4, ids.length * 4)) >>> 0;
    new Uint32Array(this.w.memory.buffer, p, ids.length).set(ids);
    const result = this.w.conditionalLog10(p, ids.length, this.idOf(word));
    this.w.free(p);
    return result;
  }

  private idOf(word: string): number {
    const bytes = encoder.encode(word);
    const p = this.w.alloc(Math.max(1, bytes.length)) >>> 0;
    new Uint8Array(this.w.memory.buffer, p, bytes.length).set(bytes);
    const id = this.w.vocabFind(p, bytes.length);
    this.w.free(p);
    return id < 0 ? 0 : id;
  }

  /**
   * Scores text, one sentence per line, as KenLM's query does: each line from <s>, ending with </s>;
   * words not in the vocabulary are <unk> and OOVs. (A last line without a newline is scored like
   * the others; KenLM's query would count its words but drop its </s> and its total.)
   */
  async query(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: QueryOptions = {}): Promise<QueryResult> {
    this.check();
    const w = this.w;
    const level = options.onSentence ? QUERY_RECORDS : QUERY_LEVEL[options.level ?? 'summary'];
    const input = new Input(w);
    w.queryBegin();
    let consumed = 0;
    let sentences = 0;
    for await (const chunk of wholeLines(source)) {
      const n = w.queryLines(input.put(chunk), chunk.length, level) >>> 0;
      const out = w.queryOutPtr() >>> 0;
      if (level === QUERY_RECORDS) {
        const view = new DataView(w.memory.buffer, out, n);
        for (let i = 0; i < n; i += 12) {
          options.onSentence!({ total: view.getFloat32(i, true), oovs: view.getUint32(i + 4, true), tokens: view.getUint32(i + 8, true) });
        }
      } else if (n > 0 && options.onOutput) {
        options.onOutput(new Uint8Array(w.memory.buffer, out, n).slice());
      }
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) sentences++;
      consumed += chunk.length;
      options.onProgress?.(consumed);
    }
    input.release();
    const total = w.queryTotal();
    const oovTotal = w.queryOovTotal();
    const oovs = w.queryOovs();
    const tokens = w.queryTokens();
    return {
      total,
      oovTotal,
      oovs,
      tokens,
      perplexity: Math.pow(10, -(total / tokens)),
      perplexityExcludingOovs: Math.pow(10, -((total - oovTotal) / (tokens - oovs))),
      sentences,
    };
  }

  queryText(text: string, options: QueryOptions = {}): Promise<QueryResult> {
    return this.query(textChunks(text), options);
  }

  /** Frees the model's memory (its Wasm instance is dropped). */
  dispose(): void {
    if (this.disposed) return;
    this.w.modelFree();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new InputError('this n-gram model was disposed');
  }
}

function checkFallback(d: number[]): void {
  if (d.length !== 3 || d.some((x) => !Number.isFinite(x))) {
    throw new InputError(`discount fallback needs three numbers D1 D2 D3+, got ${d.join(' ')}`);
  }
  d.forEach((x, i) => {
    if (x < 0 || x > i + 1) throw new InputError(`fallback discount D${i + 1}${i === 2 ? '+' : ''}=${x} must lie in [0, ${i + 1}]`);
  });
}

function discountError(w: NgramWasm): InputError {
  const order = w.buildBadOrder();
  const count = w.buildBadCount();
  const advice =
    'Is this small or artificial data? Use a larger corpus or a lower order, or pass --discount-fallback ' +
    `to substitute fixed discounts (default D1=${DEFAULT_DISCOUNT_FALLBACK[0]} D2=${DEFAULT_DISCOUNT_FALLBACK[1]} D3+=${DEFAULT_DISCOUNT_FALLBACK[2]}), as lmplz --discount_fallback.`;
  if (w.buildBadKind() === 1) {
    return new InputError(
      `could not estimate Kneser-Ney discounts for ${order}-grams with adjusted count ${count + 1}: ` +
        `no ${order}-grams have adjusted count ${count}. ${advice}`,
    );
  }
  return new InputError(
    `the ${order}-gram discount for adjusted count ${count} is out of range: ${w.buildBadValue()}. ${advice}`,
  );
}
