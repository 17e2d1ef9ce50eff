// `webtrain ngram build|query`: n-gram language models as KenLM's lmplz and query make and score them.
import type { Command } from 'commander';
import { closeSync, createReadStream, openSync, promises as fs, writeSync } from 'node:fs';
import { InputError } from '../errors.js';
import { NgramModel, DEFAULT_DISCOUNT_FALLBACK, type QueryLevel } from '../ngram/model.js';
import { progressBar } from './progress.js';

const CHUNK_BYTES = 4 << 20;

async function fileSize(path: string): Promise<number> {
  try {
    return (await fs.stat(path)).size;
  } catch {
    throw new InputError(`cannot read ${path}: no such file`);
  }
}

function readChunks(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Uint8Array>;
}

function parseFallback(value: true | string[] | undefined): boolean | [number, number, number] {
  if (value === undefined) return false;
  if (value === true || value.length === 0) return true;
  if (value.length !== 3) throw new InputError(`--discount-fallback takes three numbers D1 D2 D3+, got ${value.join(' ')}`);
  return value.map(Number) as [number, number, number];
}

/** Writes the ARPA text straight from Wasm memory, next to the target and renamed at the end. */
export async function writeArpaFile(model: NgramModel, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const piece of model.arpaChunks(CHUNK_BYTES)) {
      for (let done = 0; done < piece.length; ) done += writeSync(fd, piece, done);
    }
  } catch (e) {
    closeSync(fd);
    await fs.rm(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  await fs.rename(tmp, path);
}

export function registerNgram(program: Command): void {
  const ngram = program.command('ngram').description('n-gram language models (modified Kneser-Ney, ARPA, KenLM-compatible)');

  ngram
    .command('build')
    .description('estimate an interpolated modified Kneser-Ney model as KenLM lmplz does, and write it as ARPA')
    .requiredOption('--order <n>', 'n-gram order (e.g. 3 or 5)')
    .requiredOption('--input <file>', 'training text: one tokenized sentence per line')
    .requiredOption('--arpa <file>', 'where to write the ARPA model')
    .option(
      '--discount-fallback [d...]',
      `discounts D1 D2 D3+ for orders whose counts-of-counts cannot give them (default ${DEFAULT_DISCOUNT_FALLBACK.join(' ')})`,
    )
    .option('--skip-symbols', 'treat <s>, </s> and <unk> in the text as spaces instead of an error')
    .option('--json', 'print build statistics as one JSON object')
    .action(async (opts: { order: string; input: string; arpa: string; discountFallback?: true | string[]; skipSymbols?: boolean; json?: boolean }) => {
      const order = Number(opts.order);
      const size = await fileSize(opts.input);
      const started = performance.now();
      const bar = progressBar('counting', size, [], ' bytes');
      let model: NgramModel;
      try {
        model = await NgramModel.build(readChunks(opts.input), {
          order,
          discountFallback: parseFallback(opts.discountFallback),
          skipSymbols: opts.skipSymbols,
          onProgress: (bytes) => bar.update(bytes),
        });
      } finally {
        bar.stop();
      }
      await writeArpaFile(model, opts.arpa);
      const stats = model.stats!;
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) {
        console.log(JSON.stringify({ ...stats, arpa: opts.arpa, seconds }));
      } else {
        if (stats.skippedSpecialTokens > 0) {
          console.error(`warning: ${stats.skippedSpecialTokens} occurrences of <s>, </s> or <unk> in the text were treated as spaces`);
        }
        console.error(`tokens ${stats.tokens}, sentences ${stats.sentences}`);
        for (const o of stats.orders) {
          const d = o.discounts.map((x) => x.toPrecision(6));
          console.error(`${o.order} ${o.ngrams} D1=${d[0]} D2=${d[1]} D3+=${d[2]}${o.fallback ? ' (fallback)' : ''}`);
        }
        console.error(`wrote ${opts.arpa} in ${seconds.toFixed(2)} s`);
      }
      model.dispose();
    });

  ngram
    .command('query')
    .description('score text (one sentence per line) with an ARPA model, as KenLM query does')
    .requiredOption('--arpa <file>', 'ARPA model')
    .requiredOption('--input <file>', 'text to score: one tokenized sentence per line')
    .option('-v, --level <level>', 'output, as KenLM query -v: word (per word and sentence), sentence, or summary', 'word')
    .option('--json', 'print the summary (and per-sentence scores) as one JSON object')
    .action(async (opts: { arpa: string; input: string; level: string; json?: boolean }) => {
      if (!['word', 'sentence', 'summary'].includes(opts.level)) {
        throw new InputError(`--level must be word, sentence or summary, got ${opts.level}`);
      }
      const arpaSize = await fileSize(opts.arpa);
      const inputSize = await fileSize(opts.input);
      const loadBar = progressBar('loading', arpaSize, [], ' bytes');
      let model: NgramModel;
      try {
        model = await NgramModel.readArpa(readChunks(opts.arpa), (bytes) => loadBar.update(bytes));
      } finally {
        loadBar.stop();
      }
      const sentences: { total: number; oovs: number; tokens: number }[] = [];
      // Output goes to stdout as it comes; the bar only shows where stdout is not the terminal.
      const bar =
        process.stdout.isTTY && !opts.json ? { update() {}, stop() {} } : progressBar('scoring', inputSize, [], ' bytes');
      const result = await model.query(readChunks(opts.input), {
        level: opts.level as QueryLevel,
        onOutput: opts.json ? undefined : (text) => process.stdout.write(text),
        onSentence: opts.json ? (s) => sentences.push(s) : undefined,
        onProgress: (bytes) => bar.update(bytes),
      });
      bar.stop();
      if (opts.json) {
        console.log(JSON.stringify({ ...result, sentenceScores: sentences }));
      } else {
        process.stdout.write(
          `Perplexity including OOVs:\t${result.perplexity}\n` +
            `Perplexity excluding OOVs:\t${result.perplexityExcludingOovs}\n` +
            `OOVs:\t${result.oovs}\n` +
            `Tokens:\t${result.tokens}\n`,
        );
      }
      model.dispose();
    });
}
