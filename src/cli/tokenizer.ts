// `webtrain tokenizer encode|decode|train` (Node only: stdin/stdout and files).
//   encode --tokenizer PATH --jsonl   {"text": ...} lines in, {"ids": [...]} lines out
//   decode --tokenizer PATH --jsonl   {"ids": [...]} lines in, {"text": ...} lines out
//   train --type bpe|wordpiece --vocab-size N --input FILE... --out tokenizer.json
// Without --jsonl, encode reads plain lines and writes space-separated ids, and decode the reverse.
import type { Command } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';
import { platform } from '../platform/index.js';
import { loadTokenizer, type Tokenizer } from '../text/tokenizer.js';
import { trainBpe, trainWordPiece } from '../text/train.js';
import { progressBar } from './progress.js';

/** Writes to stdout, waiting when the pipe is full. */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve));
}

/** Runs `convert` on each stdin line, batching the output writes. */
async function mapStdinLines(convert: (line: string, lineNumber: number) => string): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let pending = '';
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    pending += convert(line, lineNumber) + '\n';
    if (pending.length > 1 << 16) {
      await writeOut(pending);
      pending = '';
    }
  }
  if (pending) await writeOut(pending);
}

function parseJsonLine(line: string, lineNumber: number): Record<string, unknown> {
  try {
    const value = JSON.parse(line);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new InputError(`stdin line ${lineNumber}: not a JSON object: ${line.slice(0, 80)}`);
}

function encodeLine(tokenizer: Tokenizer, jsonl: boolean) {
  return (line: string, lineNumber: number): string => {
    if (!jsonl) return tokenizer.encode(line).join(' ');
    const text = parseJsonLine(line, lineNumber).text;
    if (typeof text !== 'string') throw new InputError(`stdin line ${lineNumber}: no "text" string field.`);
    return `{"ids":[${tokenizer.encode(text).join(',')}]}`;
  };
}

function decodeLine(tokenizer: Tokenizer, jsonl: boolean) {
  return (line: string, lineNumber: number): string => {
    let ids: unknown;
    if (jsonl) ids = parseJsonLine(line, lineNumber).ids;
    else ids = line.trim() === '' ? [] : line.trim().split(/\s+/).map(Number);
    if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0)) {
      throw new InputError(`stdin line ${lineNumber}: "ids" must be an array of non-negative integers.`);
    }
    const text = tokenizer.decode(ids as number[]);
    return jsonl ? JSON.stringify({ text }) : text;
  };
}

/**
 * The training text of `files` in pieces of a few MB, cut where the split cannot change how the text
 * is pre-tokenised: before a newline that is followed by a non-space (BPE), or at whitespace (WordPiece).
 * A `.jsonl` file gives the `text` field of each line, one document each.
 */
export async function* readTrainingText(files: string[], cutAtAnyWhitespace: boolean, onBytes: (n: number) => void,
  pieceChars = 4 << 20): AsyncGenerator<string> {
  for (const file of files) {
    if (file.endsWith('.jsonl')) {
      let lineNumber = 0;
      const stream = createReadStream(file);
      stream.on('data', (chunk) => onBytes(chunk.length));
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        lineNumber++;
        if (line.trim() === '') continue;
        const text = parseJsonLine(line, lineNumber).text;
        if (typeof text !== 'string') throw new InputError(`${file} line ${lineNumber}: no "text" string field.`);
        yield text;
      }
      continue;
    }
    let buffered = '';
    const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
    for await (const chunk of stream as AsyncIterable<string>) {
      onBytes(Buffer.byteLength(chunk));
      buffered += chunk;
      while (buffered.length >= pieceChars) {
        const cut = safeCut(buffered, cutAtAnyWhitespace, pieceChars);
        if (cut <= 0) break; // no safe place yet: read more
        yield buffered.slice(0, cut);
        buffered = buffered.slice(cut);
      }
    }
    if (buffered) yield buffered;
  }
}

/** The last safe cut at or before `limit` (else the first after it), or -1. */
function safeCut(text: string, atAnyWhitespace: boolean, limit: number): number {
  const safe = (i: number) => (atAnyWhitespace ? /\s/.test(text[i]!) : text[i] === '\n' && !/\s/.test(text[i + 1]!));
  for (let i = Math.min(limit, text.length - 2); i > 0; i--) if (safe(i)) return i;
  for (let i = limit + 1; i < text.length - 1; i++) if (safe(i)) return i;
  return -1;
}

export function registerTokenizer(program: Command): void {
  const cmd = program.command('tokenizer').description('train tokenizers, and encode or decode text with them');

  cmd
    .command('encode')
    .description('encode stdin: {"text": ...} JSON lines (with --jsonl) or plain lines, to ids')
    .requiredOption('--tokenizer <path>', 'tokenizer.json, a folder with GPT-2 files (encoder.json + vocab.bpe or vocab.json + merges.txt), or a BERT vocab.txt')
    .option('--jsonl', 'read {"text": ...} lines, write {"ids": [...]} lines')
    .action(async (opts: { tokenizer: string; jsonl?: boolean }) => {
      const tokenizer = await loadTokenizer(opts.tokenizer);
      await mapStdinLines(encodeLine(tokenizer, !!opts.jsonl));
    });

  cmd
    .command('decode')
    .description('decode stdin: {"ids": [...]} JSON lines (with --jsonl) or lines of space-separated ids, to text')
    .requiredOption('--tokenizer <path>', 'tokenizer.json, a folder with GPT-2 files, or a BERT vocab.txt')
    .option('--jsonl', 'read {"ids": [...]} lines, write {"text": ...} lines')
    .action(async (opts: { tokenizer: string; jsonl?: boolean }) => {
      const tokenizer = await loadTokenizer(opts.tokenizer);
      await mapStdinLines(decodeLine(tokenizer, !!opts.jsonl));
    });

  cmd
    .command('train')
    .description('train a byte-level BPE or a WordPiece tokenizer and write its tokenizer.json')
    .requiredOption('--type <type>', 'bpe or wordpiece')
    .requiredOption('--vocab-size <n>', 'vocabulary size, special tokens included')
    .requiredOption('--input <files...>', 'training text files (.jsonl files: the "text" field of each line)')
    .requiredOption('--out <file>', 'where to write tokenizer.json')
    .option('--min-frequency <n>', 'do not merge pairs seen fewer times', '2')
    .option('--special <tokens...>', 'special tokens (default: <|endoftext|> for bpe; [PAD] [UNK] [CLS] [SEP] [MASK] for wordpiece)')
    .option('--no-lowercase', 'wordpiece: keep case and accents (default: lower-case and strip accents)')
    .action(async (opts: { type: string; vocabSize: string; input: string[]; out: string; minFrequency: string; special?: string[]; lowercase: boolean }) => {
      if (opts.type !== 'bpe' && opts.type !== 'wordpiece') throw new InputError(`--type must be bpe or wordpiece, got ${opts.type}.`);
      const vocabSize = Number(opts.vocabSize);
      const minFrequency = Number(opts.minFrequency);
      if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new InputError(`--vocab-size must be a positive integer, got ${opts.vocabSize}.`);
      if (!Number.isFinite(minFrequency) || minFrequency < 0) throw new InputError(`--min-frequency must be a number >= 0, got ${opts.minFrequency}.`);
      let totalBytes = 0;
      for (const f of opts.input) {
        try {
          totalBytes += statSync(f).size;
        } catch {
          throw new InputError(`--input ${f}: no such file.`);
        }
      }
      const reading = progressBar('reading', totalBytes, [], ' B');
      let read = 0;
      const texts = readTrainingText(opts.input, opts.type === 'wordpiece', (n) => reading.update((read += n)));
      let merging: ReturnType<typeof progressBar> | null = null;
      const onProgress = (done: number, total: number) => {
        if (!merging) {
          reading.stop();
          merging = progressBar('merging', total);
        }
        merging.update(done);
      };
      const options = { vocabSize, minFrequency, specialTokens: opts.special, onProgress };
      const tokenizer = opts.type === 'bpe' ? await trainBpe(texts, options) : await trainWordPiece(texts, { ...options, lowercase: opts.lowercase });
      reading.stop();
      (merging as ReturnType<typeof progressBar> | null)?.stop();
      await platform().writeFileAtomic(opts.out, tokenizer.toJSON());
      console.error(`wrote ${opts.out}: ${opts.type}, ${tokenizer.vocabSize} tokens`);
    });
}
