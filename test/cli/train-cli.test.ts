// The command-line contract of the issue, run against the built dist/webtrain.mjs:
//   webtrain train --preset tiny [--config FILE] [--data DIR] --steps N --out DIR   (and --resume)
//   webtrain generate --checkpoint DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S]
//   webtrain eval --checkpoint DIR
// Bad settings end with a non-zero exit and one clear line, no stack trace.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { useNodePlatform } from '../../src/platform/node.js';
import { ShardWriter } from '../../src/data/shards.js';
import { trainBpe } from '../../src/text/train.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { loadLatestCheckpoint } from '../../src/train/checkpoint.js';
import { tokenizerFromFile } from '../../src/train/data.js';
import { generate, sampleText, type GenerateOptions } from '../../src/train/generate.js';
import { Gpt } from '../../src/models/gpt.js';
import { Var } from '../../src/tensor/autograd.js';
import { testGpu } from '../helpers/gpu.js';

const CLI = resolve('dist/webtrain.mjs');
// A process's first training step compiles every kernel: minutes on a busy CPU adapter with a cold shader cache.
const COLD_START_MS = 300_000;
const STALE = 'the CLI and the library disagree: is dist/webtrain.mjs built from this tree? (npm run build)';

interface Run { code: number; stdout: string; stderr: string }

function webtrain(...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { timeout: COLD_START_MS, env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** stderr without Dawn's adapter notices, which are not webtrain's. */
const ownLines = (stderr: string) => stderr.split('\n').filter((l) => l && !l.startsWith('Warning: '));

type Line = Record<string, number>;
const readMetrics = async (dir: string): Promise<Line[]> =>
  (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

const SENTENCES = [
  'The cat sat on the mat and looked at the dog.', 'A dog ran in the park with a red ball.',
  'The sun was warm and the sky was blue over the town.', 'She read a book by the window while it rained.',
  'They walked to the market to buy bread and milk.', 'The old man told a story about the sea.',
];

// Small settings that keep each run to seconds on the CPU adapter; a constant learning rate so
// a run extended by --resume sees the same rates as one that ran all its steps at once.
const SETTINGS = {
  batchSize: 2, seqLen: 16, evalEvery: 2, evalBatches: 2, logEvery: 1, checkpointEvery: 2, keepCheckpoints: 2,
  sampleTokens: 0, schedule: 'constant', warmup: 0, model: { nLayer: 1, nEmbd: 16, nHead: 2, blockSize: 16 },
};

let work: string;
let shards: string;
let config: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first with \`npm run build\` (npm test does this before vitest)`);
  useNodePlatform();
  work = await mkdtemp(join(tmpdir(), 'webtrain-cli-'));
  const docs = Array.from({ length: 30 }, (_, i) => `${SENTENCES[i % 6]} ${SENTENCES[(i * 5 + 1) % 6]}`);
  const tokenizer = await trainBpe(docs, { vocabSize: 320 });
  shards = join(work, 'shards');
  const writer = await ShardWriter.create(shards, { vocabSize: tokenizer.vocabSize, eosId: tokenizer.eosId ?? null });
  for (let i = 0; i < docs.length; i++) await writer.addDocument(i % 5 === 4 ? 'val' : 'train', tokenizer.encode(docs[i]));
  await writer.finish(tokenizer.toJSON(), { source: 'test sentences' });
  tokenizer.dispose();
  config = join(work, 'small.json');
  await writeFile(config, JSON.stringify(SETTINGS));
});

const WHOLE_STEPS = 16;
const stepsIn = (lines: Line[], from: number, to: number) =>
  lines.filter((l) => l.step >= from && l.step <= to).map(({ step, loss, val_loss }) => ({ step, loss, val_loss }));

describe('train, resume, generate and eval on a shard directory', () => {
  let run: string;
  let whole: string;

  test('train writes metrics.jsonl (step, loss, lr, tokens_per_s; val_loss at evaluations) and safetensors checkpoints', async () => {
    run = join(work, 'run');
    const r = await webtrain('train', '--preset', 'tiny', '--steps', '4', '--config', config, '--data', shards, '--out', run);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('webtrain: tiny (1 layers, d=16');
    expect(r.stderr).toContain('done at step 4');
    const lines = await readMetrics(run);
    const steps = lines.filter((l) => 'loss' in l);
    expect(steps.map((l) => l.step)).toEqual([1, 2, 3, 4]);
    for (const l of steps) {
      for (const key of ['step', 'loss', 'lr', 'tokens_per_s']) expect(Number.isFinite(l[key]), `${key} in ${JSON.stringify(l)}`).toBe(true);
      expect(l.tokens_per_s).toBeGreaterThan(0);
      expect(l.lr).toBe(3e-3);
    }
    const evals = lines.filter((l) => 'val_loss' in l);
    expect(evals.map((l) => l.step)).toEqual([2, 4]);
    evals.forEach((l) => expect(l.val_loss).toBeGreaterThan(0));

    expect((await readdir(run)).sort()).toEqual(['ckpt-00000002.safetensors', 'ckpt-00000004.safetensors', 'metrics.jsonl', 'tokenizer.json']);
    const ck = decodeSafetensors(await readFile(join(run, 'ckpt-00000004.safetensors')));
    expect(ck.metadata).toMatchObject({ format: 'webtrain-checkpoint/1', step: '4', data: shards });
    expect(JSON.parse(ck.metadata.model_config)).toMatchObject({ nLayer: 1, nEmbd: 16, nHead: 2, blockSize: 16 });
    expect(ck.tensors['model.wte'].shape[1]).toBe(16);
    expect(Object.keys(ck.tensors).some((k) => k.startsWith('optim.'))).toBe(true);
  }, COLD_START_MS);

  test('--resume continues from the newest checkpoint with the losses of an uninterrupted run', async () => {
    // What a run killed during step 6 would have logged after its last checkpoint (step 4).
    const before = await readFile(join(run, 'metrics.jsonl'), 'utf8');
    await writeFile(join(run, 'metrics.jsonl'), `${before}{"step":5,"loss":9.5,"lr":0.003,"tokens_per_s":1}\n{"step":6,"lo`);
    // And a newer checkpoint that did not survive intact.
    const good = await readFile(join(run, 'ckpt-00000004.safetensors'));
    await writeFile(join(run, 'ckpt-00000005.safetensors'), good.subarray(0, good.length - 8));
    // Re-running the first command with --resume: its settings are the saved ones, and it says so.
    const resumed = await webtrain('train', '--resume', '--preset', 'tiny', '--steps', '6', '--config', config, '--data', shards, '--out', run);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("resuming with the run's saved settings; ignoring --preset, --config, --data (only --steps may change)");
    expect(resumed.stderr).toContain('resuming at step 4');
    expect(resumed.stderr).toMatch(/skipped unreadable checkpoint\(s\): .*ckpt-00000005\.safetensors.*truncated.*; using step 4/);
    // With a constant learning rate, the first steps of a longer run are those of a shorter one.
    whole = join(work, 'whole');
    const r = await webtrain('train', '--preset', 'tiny', '--steps', String(WHOLE_STEPS), '--config', config, '--data', shards, '--out', whole);
    expect(r.code, r.stderr).toBe(0);
    const got = stepsIn(await readMetrics(run), 5, 6);
    expect(got.map((l) => l.step)).toEqual([5, 6, 6]);
    expect(got).toEqual(stepsIn(await readMetrics(whole), 5, 6));
    // The killed run's lines after the checkpoint are replaced, the earlier ones kept as they were.
    expect((await readFile(join(run, 'metrics.jsonl'), 'utf8')).startsWith(before)).toBe(true);
    // The unreadable file is set aside, so keeping the newest two kept the good step 4.
    expect((await readdir(run)).filter((f) => f.startsWith('ckpt-')).sort())
      .toEqual(['ckpt-00000004.safetensors', 'ckpt-00000005.safetensors.corrupt', 'ckpt-00000006.safetensors']);
  });

  test('a run killed (SIGKILL) at any moment resumes from its newest checkpoint with the same losses', async () => {
    const killed = join(work, 'killed');
    const child = spawn(process.execPath, [CLI, 'train', '--preset', 'tiny', '--steps', '1000', '--config', config, '--data', shards, '--out', killed],
      { stdio: 'ignore' });
    let running = true;
    const exited = new Promise((done) => child.on('exit', () => done((running = false))));
    while (!existsSync(join(killed, 'ckpt-00000004.safetensors'))) {
      if (!running) throw new Error('the training process ended before its step-4 checkpoint');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    const resumed = await webtrain('train', '--resume', '--steps', String(WHOLE_STEPS), '--out', killed);
    expect(resumed.code, resumed.stderr).toBe(0);
    const from = Number(/resuming at step (\d+)/.exec(resumed.stderr)?.[1]);
    expect(from).toBeGreaterThanOrEqual(4);
    expect(from, 'the kill came too late to test a resume').toBeLessThan(WHOLE_STEPS);
    const lines = await readMetrics(killed);
    expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual(Array.from({ length: WHOLE_STEPS }, (_, i) => i + 1));
    expect(stepsIn(lines, 1, WHOLE_STEPS)).toEqual(stepsIn(await readMetrics(whole), 1, WHOLE_STEPS));
  }, COLD_START_MS);

  test('generate prints the prompt and the continuation the library samples with the same options', async () => {
    // The same sampling in this process, from the same checkpoint, through the library.
    const gpu = await testGpu();
    const tokenizer = await tokenizerFromFile(join(run, 'tokenizer.json'));
    const ck = await loadLatestCheckpoint(gpu, run);
    const model = new Gpt(gpu, JSON.parse(ck.metadata.model_config));
    const weights = new Map(model.specs.map((s) => [s.name, new Var(ck.tensors.get('model.' + s.name)!, false, s.name)]));
    const expected = async (prompt: string, o: GenerateOptions) => {
      const ids = await generate(gpu, model, weights, Array.from(tokenizer.encode(prompt)), o);
      expect(ids).toHaveLength(o.maxTokens);
      return prompt + (await sampleText(gpu, model, weights, tokenizer, prompt, o)) + '\n';
    };

    const r = await webtrain('generate', '--checkpoint', run, '--prompt', 'The cat', '--max-tokens', '5', '--seed', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('The cat')).toBe(true);
    // The CLI's defaults: temperature 0.8, top-k 40, top-p 1, no repetition penalty.
    expect(r.stdout, STALE).toBe(await expected('The cat', { maxTokens: 5, temperature: 0.8, topK: 40, topP: 1, repetitionPenalty: 1, seed: 1 }));
    const flags = await webtrain('generate', '--checkpoint', run, '--prompt', 'A dog', '--max-tokens', '6', '--temperature', '1.7',
      '--top-k', '9', '--top-p', '0.95', '--repetition-penalty', '1.5', '--seed', '4');
    expect(flags.code, flags.stderr).toBe(0);
    expect(flags.stdout, STALE).toBe(await expected('A dog', { maxTokens: 6, temperature: 1.7, topK: 9, topP: 0.95, repetitionPenalty: 1.5, seed: 4 }));
    tokenizer.dispose();
    for (const t of ck.tensors.values()) t.dispose();

    const bad = await webtrain('generate', '--checkpoint', run, '--prompt', 'The', '--top-p', '0');
    expect(bad.code).not.toBe(0);
    expect(ownLines(bad.stderr)).toEqual(['webtrain: top-p must be in (0, 1], got 0']);
  });

  test('eval prints the validation loss of the newest checkpoint', async () => {
    const r = await webtrain('eval', '--checkpoint', run);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    const last = (await readMetrics(run)).filter((l) => 'val_loss' in l).at(-1)!;
    expect(result.step).toBe(6);
    expect(result.val_loss).toBeCloseTo(last.val_loss, 5);
    expect(result.val_ppl).toBeCloseTo(Math.exp(last.val_loss), 3);
    const bad = await webtrain('eval', '--checkpoint', run, '--batches', '0');
    expect(bad.code).not.toBe(0);
    expect(ownLines(bad.stderr)).toEqual([expect.stringMatching(/^webtrain: flags: 'evalBatches' must be an integer in \[1, /)]);
  });

  test('eval of a run trained in bf16 scores the checkpoint\'s f32 weights, close to what training logged from its bf16 copies', async () => {
    const dir = join(work, 'bf16-run');
    const fast = join(work, 'fast.json');
    await writeFile(fast, JSON.stringify({ ...SETTINGS, lr: 1e-2 }));
    const t = await webtrain('train', '--preset', 'tiny', '--config', fast, '--data', shards, '--steps', '6', '--precision', 'bf16', '--out', dir);
    expect(t.code, t.stderr).toBe(0);
    const evals = (await readMetrics(dir)).filter((l) => 'val_loss' in l).map((l) => l.val_loss);
    const last = evals.at(-1)!;
    // Training moved the weights well beyond the tolerance below, so fresh weights could not pass.
    expect(evals[0] - last).toBeGreaterThan(0.1);
    const r = await webtrain('eval', '--checkpoint', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(Math.abs(JSON.parse(r.stdout).val_loss - last)).toBeLessThan(0.02 * last);
  });

  test('generate and eval on a directory that is not a finished run say what is missing', async () => {
    const empty = await mkdtemp(join(work, 'empty-'));
    const noTokenizer = await webtrain('generate', '--checkpoint', empty, '--prompt', 'The');
    expect(noTokenizer.code).not.toBe(0);
    expect(ownLines(noTokenizer.stderr)).toEqual([`webtrain: ${empty} has no tokenizer.json; was it made by webtrain train?`]);
    const noCheckpoint = await webtrain('eval', '--checkpoint', empty);
    expect(ownLines(noCheckpoint.stderr)).toEqual([`webtrain: no checkpoint (ckpt-*.safetensors) in ${empty}; train first with --out ${empty}`]);
    await writeFile(join(empty, 'tokenizer.json'), await readFile(join(run, 'tokenizer.json')));
    await writeFile(join(empty, 'ckpt-00000002.safetensors'), 'not a checkpoint');
    const corrupt = await webtrain('generate', '--checkpoint', empty, '--prompt', 'The');
    expect(corrupt.code).not.toBe(0);
    const lines = ownLines(corrupt.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^webtrain: no readable checkpoint in .*ckpt-00000002\.safetensors.*(truncated|corrupt)/);
  });
});

describe('bad settings exit non-zero with one clear line', () => {
  async function settingsFile(name: string, text: string): Promise<string> {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  }

  const cases: [string, () => Promise<string[]>, RegExp][] = [
    ['an unknown key', async () => ['--config', await settingsFile('unknown.json', '{"batchsize": 2}')], /unknown setting 'batchsize'/],
    ['a wrong type', async () => ['--config', await settingsFile('type.json', '{"batchSize": "2"}')], /'batchSize' must be an integer in \[1, 65536\], got "2"/],
    ['a bad preset', async () => ['--preset', 'huge'], /unknown preset 'huge'; choose one of: tiny, small, gpt2-124m/],
    ['nEmbd not divisible by nHead', async () => ['--config', await settingsFile('heads.json', '{"model": {"nEmbd": 30, "nHead": 4}}')],
      /model\.nEmbd \(30\) must be divisible by model\.nHead \(4\)/],
    ['a file that is not JSON', async () => ['--config', await settingsFile('broken.json', '{"steps": 3,,}')], /broken\.json is not valid JSON/],
    ['a non-numeric flag', async () => ['--steps', 'ten'], /--steps must be a number, got 'ten'/],
    ['a bad precision flag', async () => ['--precision', 'f8'], /'precision' must be one of f32, f16, bf16, got "f8"/],
  ];

  test.each(cases)('%s', async (_, args, what) => {
    const out = join(work, 'never');
    const r = await webtrain('train', ...(await args()), '--data', shards, '--out', out);
    expect(r.code).not.toBe(0);
    const lines = ownLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^webtrain: /);
    expect(lines[0]).toMatch(what);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });
});

test('without --data, train uses the bundled Brown corpus', async () => {
  const run = join(work, 'brown');
  const r = await webtrain('train', '--preset', 'tiny', '--steps', '2', '--config', config, '--out', run);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/vocab 2048\).*, \d{7} train tokens/);
  const lines = await readMetrics(run);
  expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual([1, 2]);
  expect(lines.filter((l) => 'val_loss' in l).map((l) => l.step)).toEqual([2]);
  expect(JSON.parse(await readFile(join(run, 'tokenizer.json'), 'utf8'))).toHaveProperty('model');
  expect(await readdir(run)).toContain('ckpt-00000002.safetensors');

  // A fresh run into the same directory never mixes with the earlier one: it stops, unless told to replace it.
  const refused = await webtrain('train', '--preset', 'tiny', '--steps', '1', '--config', config, '--out', run);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain(`${run} holds an earlier run (checkpoints up to step 2); pass --resume to continue it, --overwrite to replace it`);
  expect(await readdir(run)).toContain('ckpt-00000002.safetensors');
  const again = await webtrain('train', '--preset', 'tiny', '--steps', '1', '--config', config, '--out', run, '--overwrite');
  expect(again.code, again.stderr).toBe(0);
  expect(again.stderr).toContain(`${run} holds an earlier run (checkpoints up to step 2); --overwrite replaces it`);
  expect((await readMetrics(run)).map((l) => l.step)).toEqual([1, 1]);
  expect((await readdir(run)).filter((f) => f.startsWith('ckpt-'))).toEqual(['ckpt-00000001.safetensors']);
});
