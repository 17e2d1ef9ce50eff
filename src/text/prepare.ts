// From raw documents to token shards: clean (Unicode normalisation, control characters), filter
// (quality rules), de-duplicate (exact, then MinHash near-duplicates), scrub personal data,
// tokenize, and write train/validation shards with a report of what was removed and why.
// Portable: documents come from any async source (stream-node.ts reads files in Node).
import { InputError } from '../errors.js';
import { ShardWriter, type ShardMeta, type Split } from '../data/shards.js';
import { GOPHER_RULES, TextCleaner, type Normalization, type QualityRules } from './clean.js';
import { ExactDeduplicator, NearDeduplicator, type MinHashOptions } from './dedup.js';
import { Scrubber, emptyPiiCounts, type PiiCounts, type PiiKind } from './scrub.js';
import { WasmBytes } from './stream-buffer.js';
import type { Document } from './stream.js';
import type { Tokenizer } from './tokenizer.js';
import { textWasm, type TextWasm } from './wasm.js';

export type DedupMode = 'exact' | 'near' | 'none';

export interface PipelineOptions {
  /** Default NFC. */
  normalization?: Normalization;
  /** Quality rules; null turns filtering off (default GOPHER_RULES). */
  rules?: QualityRules | null;
  /** 'near' also removes exact duplicates first (default 'near'). */
  dedup?: DedupMode;
  minhash?: MinHashOptions;
  /** Kinds of personal data to replace by placeholders (default none). */
  scrub?: readonly PiiKind[];
}

/** Counts for the report; `removed` is keyed by reason (a rule name, 'empty', 'exact-duplicate', 'near-duplicate'). */
export interface PipelineStats {
  documents_in: number;
  documents_kept: number;
  removed: Record<string, number>;
  control_chars_removed: number;
  pii_replaced: PiiCounts;
  bytes_in: number;
  bytes_kept: number;
}

/** The per-document steps, in order; each document is either kept (cleaned text) or counted under one reason. */
export class DocumentPipeline {
  readonly stats: PipelineStats;
  private readonly cleaner: TextCleaner;
  private readonly exact: ExactDeduplicator | null;
  private readonly near: NearDeduplicator | null;
  private readonly scrubber: Scrubber | null;
  private readonly doc: WasmBytes;
  private readonly scrubbed: WasmBytes;

  constructor(
    private readonly wasm: TextWasm,
    options: PipelineOptions = {},
  ) {
    const dedup = options.dedup ?? 'near';
    if (!['exact', 'near', 'none'].includes(dedup)) throw new InputError(`--dedup must be exact, near or none, got ${dedup}`);
    this.cleaner = new TextCleaner(wasm, options.normalization ?? 'NFC', options.rules === null ? {} : (options.rules ?? GOPHER_RULES));
    this.exact = dedup === 'none' ? null : new ExactDeduplicator(wasm);
    this.near = dedup === 'near' ? new NearDeduplicator(wasm, options.minhash) : null;
    this.scrubber = options.scrub?.length ? new Scrubber(wasm, options.scrub) : null;
    this.doc = new WasmBytes(wasm);
    this.scrubbed = new WasmBytes(wasm);
    const removed: Record<string, number> = { empty: 0 };
    for (const rule of this.cleaner.ruleNames) removed[rule] = 0;
    if (this.exact) removed['exact-duplicate'] = 0;
    if (this.near) removed['near-duplicate'] = 0;
    this.stats = {
      documents_in: 0, documents_kept: 0, removed, control_chars_removed: 0,
      pii_replaced: emptyPiiCounts(), bytes_in: 0, bytes_kept: 0,
    };
  }

  /** The cleaned (and scrubbed) document, or null when it is removed. */
  process(text: string): string | null {
    const s = this.stats;
    s.documents_in++;
    s.control_chars_removed += this.cleaner.cleanInto(text, this.doc);
    s.bytes_in += this.doc.length;
    const reason = this.removalReason();
    if (reason) {
      s.removed[reason]++;
      return null;
    }
    s.documents_kept++;
    let out = this.doc;
    if (this.scrubber) {
      this.scrubber.scrubInto(this.doc, this.scrubbed, s.pii_replaced);
      out = this.scrubbed;
    }
    s.bytes_kept += out.length;
    this.lastHash = Number(this.wasm.hashBytes(out.ptr, out.length) & 0xffffffffn);
    return out.toString();
  }

  /** Low 32 bits of the XXH64 of the last kept document (for a stable train/validation split). */
  lastHash = 0;

  private removalReason(): string | null {
    if (isBlank(this.doc.bytes())) return 'empty';
    const failed = this.cleaner.firstFailedRule(this.doc);
    if (failed) return failed;
    if (this.exact?.isDuplicate(this.doc)) return 'exact-duplicate';
    if (this.near?.check(this.doc).duplicate) return 'near-duplicate';
    return null;
  }

  dispose(): void {
    this.cleaner.dispose();
    this.exact?.dispose();
    this.near?.dispose();
    this.scrubber?.dispose();
    this.doc.dispose();
    this.scrubbed.dispose();
  }
}

function isBlank(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && (b < 0x09 || b > 0x0d)) return false;
  }
  return true;
}

/** The part of a tokenizer that preparing shards needs. */
export type ShardTokenizer = Pick<Tokenizer, 'encode' | 'vocabSize' | 'eosId' | 'toJSON'>;

export interface PrepareOptions extends PipelineOptions {
  /** Fraction of kept documents for validation (default 0.01), chosen by hash of the text. */
  valFraction?: number;
  tokensPerShard?: number;
  /** Called after each document with the documents seen and kept so far and the tokens written. */
  onDocument?: (seen: number, kept: number, tokens: number) => void;
  /** Merged into the report (e.g. input files, UTF-8 findings). */
  extraStats?: () => Record<string, unknown>;
}

/**
 * Runs `documents` through the pipeline into shards in `outDir`. A document goes to validation
 * when the hash of its text falls below `valFraction`, so the split is stable across runs and
 * orders and identical documents never straddle it; if that leaves validation empty, the last
 * kept document goes there.
 */
export async function prepareShards(
  documents: AsyncIterable<Document>,
  tokenizer: ShardTokenizer,
  outDir: string,
  options: PrepareOptions = {},
): Promise<ShardMeta> {
  const valFraction = options.valFraction ?? 0.01;
  if (!(valFraction >= 0 && valFraction < 1)) throw new InputError(`--val-fraction must be in [0, 1), got ${valFraction}`);
  const started = Date.now();
  const pipeline = new DocumentPipeline(await textWasm(), options);
  const eosId = tokenizer.eosId ?? null;
  const writer = await ShardWriter.create(outDir, { vocabSize: tokenizer.vocabSize, eosId, tokensPerShard: options.tokensPerShard });
  const documentsIn: Record<Split, number> = { train: 0, val: 0 };
  // The latest training document is held back, to move to validation if that ends up empty.
  let held: Uint32Array | null = null;
  try {
    for await (const { text } of documents) {
      const kept = pipeline.process(text);
      if (kept !== null) {
        const ids = tokenizer.encode(kept);
        if (pipeline.lastHash < valFraction * 2 ** 32) {
          await writer.addDocument('val', ids);
          documentsIn.val++;
        } else {
          if (held) await writer.addDocument('train', held);
          held = ids;
          documentsIn.train++;
        }
      }
      options.onDocument?.(pipeline.stats.documents_in, pipeline.stats.documents_kept, writer.tokenCount('train') + writer.tokenCount('val'));
    }
    if (held) {
      const moveToVal = documentsIn.val === 0 && valFraction > 0 && documentsIn.train > 1;
      await writer.addDocument(moveToVal ? 'val' : 'train', held);
      if (moveToVal) {
        documentsIn.train--;
        documentsIn.val++;
      }
    }
    if (documentsIn.train + documentsIn.val === 0) {
      throw new InputError(
        `no documents were kept (of ${pipeline.stats.documents_in}; removed: ${JSON.stringify(pipeline.stats.removed)}); ` +
          'check the input format (--format) or relax the filters (--no-quality, --min-words)',
      );
    }
    const stats = {
      ...pipeline.stats,
      documents: documentsIn,
      tokens: { train: writer.tokenCount('train'), val: writer.tokenCount('val') },
      seconds: (Date.now() - started) / 1000,
      ...options.extraStats?.(),
    };
    return await writer.finish(tokenizer.toJSON(), stats);
  } finally {
    pipeline.dispose();
  }
}
