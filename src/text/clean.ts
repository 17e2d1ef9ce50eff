// Cleaning (Unicode normalisation, control characters) and Gopher-style quality filters
// (Rae et al. 2021, "MassiveWeb" rules). The counting runs in Wasm (assembly/text/clean.ts);
// the thresholds and the report of what each rule removed live here.
import { InputError } from '../errors.js';
import { WasmBytes } from './stream-buffer.js';
import type { TextWasm } from './wasm.js';

export type Normalization = 'NFC' | 'NFKC' | 'none';

/** Thresholds; a rule left undefined is not applied. Fractions are of non-space characters unless noted. */
export interface QualityRules {
  minChars?: number;
  maxChars?: number;
  minWords?: number;
  maxWords?: number;
  minMeanWordLength?: number;
  maxMeanWordLength?: number;
  /** Punctuation and symbols / non-space characters. */
  maxSymbolRatio?: number;
  /** Digits / non-space characters. */
  maxDigitRatio?: number;
  /** ('#' + ellipses) / words. */
  maxHashEllipsisRatio?: number;
  /** Of non-empty lines. */
  maxBulletLineFraction?: number;
  maxEllipsisLineFraction?: number;
  /** Of words: words with at least one letter. */
  minAlphaWordFraction?: number;
  /** Of non-empty lines: lines repeating an earlier line. */
  maxDuplicateLineFraction?: number;
  maxDuplicateLineCharFraction?: number;
  /** For n = 2, 3, 4: characters covered by the most frequent n-gram. */
  maxTopNgramCharFraction?: [number, number, number];
  /** For n = 5 .. 10: characters in n-grams repeating an earlier one. */
  maxDuplicateNgramCharFraction?: [number, number, number, number, number, number];
  /** Documents need at least `minStopWords` occurrences of these (case-insensitive) words. */
  stopWords?: string[];
  minStopWords?: number;
}

/** Gopher's published thresholds, with English stop words; `minWords` lowered from 50 to 20 for shorter documents. */
export const GOPHER_RULES: QualityRules = {
  minWords: 20,
  maxWords: 100_000,
  minMeanWordLength: 3,
  maxMeanWordLength: 10,
  maxHashEllipsisRatio: 0.1,
  maxBulletLineFraction: 0.9,
  maxEllipsisLineFraction: 0.3,
  minAlphaWordFraction: 0.8,
  maxDuplicateLineFraction: 0.3,
  maxDuplicateLineCharFraction: 0.2,
  maxTopNgramCharFraction: [0.2, 0.18, 0.16],
  maxDuplicateNgramCharFraction: [0.15, 0.14, 0.13, 0.12, 0.11, 0.1],
  stopWords: ['the', 'be', 'to', 'of', 'and', 'that', 'have', 'with'],
  minStopWords: 2,
};

/** The measures the rules compare against, for one document. */
export interface QualityStats {
  chars: number;
  words: number;
  meanWordLength: number;
  symbolRatio: number;
  digitRatio: number;
  hashEllipsisRatio: number;
  bulletLineFraction: number;
  ellipsisLineFraction: number;
  alphaWordFraction: number;
  duplicateLineFraction: number;
  duplicateLineCharFraction: number;
  topNgramCharFraction: number[];
  duplicateNgramCharFraction: number[];
  stopWords: number;
}

// Layout of the Wasm statistics array (assembly/text/clean.ts).
const S = {
  chars: 0, nonspace: 1, words: 2, digits: 3, symbols: 4, hashEllipsis: 5, lines: 6, nonEmptyLines: 7,
  dupLines: 8, dupLineChars: 9, stopWords: 10, alphaWords: 11, bulletLines: 12, ellipsisLines: 13,
  topNgram: 14, dupNgram: 17, count: 23,
} as const;

let stopWordsOwner: TextCleaner | null = null;

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Normalises Unicode and removes control characters; measures documents and applies the rules. */
export class TextCleaner {
  private readonly buffer: WasmBytes;
  private readonly checks: [string, (s: QualityStats) => boolean][];

  constructor(
    private readonly wasm: TextWasm,
    readonly normalization: Normalization = 'NFC',
    readonly rules: QualityRules = GOPHER_RULES,
  ) {
    this.buffer = new WasmBytes(wasm);
    this.checks = buildChecks(rules);
    const stop = (rules.stopWords ?? []).map((w) => w.trim().toLowerCase()).filter((w) => w);
    if (stop.some((w) => /\s/.test(w))) throw new InputError('stop words must be single words without spaces');
    this.stopWordList = stop.join('\n');
  }

  private readonly stopWordList: string;

  // The Wasm side holds one stop-word set; load ours if another cleaner's is there.
  private useStopWords(): void {
    if (stopWordsOwner === this) return;
    const list = new WasmBytes(this.wasm);
    list.setString(this.stopWordList);
    this.wasm.cleanSetStopWords(list.ptr, list.length);
    list.dispose();
    stopWordsOwner = this;
  }

  /** Rule names in the order they are checked (a document is counted under the first it fails). */
  get ruleNames(): string[] {
    return this.checks.map(([name]) => name);
  }

  /** Normalises `text` into `into` and removes control characters there. Returns the count removed. */
  cleanInto(text: string, into: WasmBytes): number {
    into.setString(this.normalization === 'none' ? text : text.normalize(this.normalization));
    into.length = this.wasm.cleanControls(into.ptr, into.length);
    return this.wasm.cleanControlsRemoved();
  }

  clean(text: string): string {
    this.cleanInto(text, this.buffer);
    return this.buffer.toString();
  }

  /** Measures the (already cleaned) document in `doc`. */
  measure(doc: WasmBytes): QualityStats {
    this.useStopWords();
    this.wasm.qualityStats(doc.ptr, doc.length);
    const v = new Float64Array(this.wasm.memory.buffer, this.wasm.qualityStatsPtr(), S.count);
    const nonspace = v[S.nonspace];
    const words = v[S.words];
    const lines = v[S.nonEmptyLines];
    return {
      chars: v[S.chars],
      words,
      meanWordLength: ratio(nonspace, words),
      symbolRatio: ratio(v[S.symbols], nonspace),
      digitRatio: ratio(v[S.digits], nonspace),
      hashEllipsisRatio: ratio(v[S.hashEllipsis], words),
      bulletLineFraction: ratio(v[S.bulletLines], lines),
      ellipsisLineFraction: ratio(v[S.ellipsisLines], lines),
      alphaWordFraction: ratio(v[S.alphaWords], words),
      duplicateLineFraction: ratio(v[S.dupLines], lines),
      duplicateLineCharFraction: ratio(v[S.dupLineChars], nonspace),
      topNgramCharFraction: [0, 1, 2].map((i) => ratio(v[S.topNgram + i], nonspace)),
      duplicateNgramCharFraction: [0, 1, 2, 3, 4, 5].map((i) => ratio(v[S.dupNgram + i], nonspace)),
      stopWords: v[S.stopWords],
    };
  }

  /** The first rule the document in `doc` fails, or null when it passes all. */
  firstFailedRule(doc: WasmBytes): string | null {
    if (this.checks.length === 0) return null;
    const stats = this.measure(doc);
    for (const [name, passes] of this.checks) if (!passes(stats)) return name;
    return null;
  }

  /** Convenience for one string: cleaned text and the rule it fails (or null). */
  assess(text: string): { text: string; failedRule: string | null } {
    this.cleanInto(text, this.buffer);
    return { text: this.buffer.toString(), failedRule: this.firstFailedRule(this.buffer) };
  }

  dispose(): void {
    if (stopWordsOwner === this) stopWordsOwner = null;
    this.buffer.dispose();
  }
}

function buildChecks(r: QualityRules): [string, (s: QualityStats) => boolean][] {
  const checks: [string, (s: QualityStats) => boolean][] = [];
  const add = (name: string, value: number | undefined, passes: (s: QualityStats, v: number) => boolean) => {
    if (value === undefined) return;
    if (!Number.isFinite(value)) throw new InputError(`quality rule ${name} must be a number, got ${value}`);
    checks.push([name, (s) => passes(s, value)]);
  };
  add('min-chars', r.minChars, (s, v) => s.chars >= v);
  add('max-chars', r.maxChars, (s, v) => s.chars <= v);
  add('min-words', r.minWords, (s, v) => s.words >= v);
  add('max-words', r.maxWords, (s, v) => s.words <= v);
  add('min-mean-word-length', r.minMeanWordLength, (s, v) => s.meanWordLength >= v);
  add('max-mean-word-length', r.maxMeanWordLength, (s, v) => s.meanWordLength <= v);
  add('max-symbol-ratio', r.maxSymbolRatio, (s, v) => s.symbolRatio <= v);
  add('max-digit-ratio', r.maxDigitRatio, (s, v) => s.digitRatio <= v);
  add('max-hash-ellipsis-ratio', r.maxHashEllipsisRatio, (s, v) => s.hashEllipsisRatio <= v);
  add('max-bullet-lines', r.maxBulletLineFraction, (s, v) => s.bulletLineFraction <= v);
  add('max-ellipsis-lines', r.maxEllipsisLineFraction, (s, v) => s.ellipsisLineFraction <= v);
  add('min-alpha-words', r.minAlphaWordFraction, (s, v) => s.alphaWordFraction >= v);
  add('max-duplicate-lines', r.maxDuplicateLineFraction, (s, v) => s.duplicateLineFraction <= v);
  add('max-duplicate-line-chars', r.maxDuplicateLineCharFraction, (s, v) => s.duplicateLineCharFraction <= v);
  r.maxTopNgramCharFraction?.forEach((limit, i) =>
    add(`max-top-${i + 2}gram`, limit, (s, v) => s.topNgramCharFraction[i] <= v),
  );
  r.maxDuplicateNgramCharFraction?.forEach((limit, i) =>
    add(`max-duplicate-${i + 5}grams`, limit, (s, v) => s.duplicateNgramCharFraction[i] <= v),
  );
  if (r.stopWords?.length) add('min-stop-words', r.minStopWords ?? 1, (s, v) => s.stopWords >= v);
  return checks;
}
