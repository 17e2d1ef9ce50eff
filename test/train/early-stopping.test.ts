// Early stopping: a model that learns a training pattern while the validation split holds tokens
// it never sees as targets gets worse on validation from the first evaluation on, so training
// must end after `patience` evaluations without improvement, also across a resume.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testGpu } from '../helpers/gpu.js';
import { Trainer, type EvalLog } from '../../src/train/trainer.js';
import { applyOverrides, presetConfig } from '../../src/train/config.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import type { GptConfig } from '../../src/models/config.js';
import type { TokenSplits } from '../../src/data/batches.js';
import { Rng } from '../../src/tensor/random.js';

const gpu = await testGpu();
const model: GptConfig = { vocabSize: 64, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0 };
const rng = new Rng(5);
const data: TokenSplits = {
  train: Uint32Array.from({ length: 400 }, (_, i) => i % 8),
  val: Uint32Array.from({ length: 200 }, () => 32 + rng.int(32)),
  vocabSize: 64, eosId: null,
};
const cfg = applyOverrides(presetConfig('tiny'), {
  batchSize: 3, seqLen: 13, steps: 20, lr: 1e-2, warmup: 0, schedule: 'constant', logEvery: 1,
  evalEvery: 1, evalBatches: 2, patience: 3, checkpointEvery: 1, keepCheckpoints: 2, sampleTokens: 0,
}, 'test');

const tempDir = () => mkdtemp(join(tmpdir(), 'webtrain-early-'));
const metrics = async (dir: string) =>
  (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

test('training stops after `patience` evaluations without a better validation loss', async () => {
  const dir = await tempDir();
  const trainer = new Trainer(gpu, cfg, model, data, dir);
  await trainer.init(false);
  const result = await trainer.train();
  trainer.dispose();

  expect(result.stoppedEarly).toBe(true);
  expect(result.steps).toBeLessThan(cfg.steps);
  const lines = await metrics(dir);
  const evals = lines.filter((l) => 'val_loss' in l);
  for (const e of evals) {
    expect(Object.keys(e).sort()).toEqual(['step', 'val_loss', 'val_ppl']);
    expect(e.val_ppl).toBeCloseTo(Math.exp(e.val_loss), 4);
  }
  expect(evals.map((e) => e.step)).toEqual(Array.from({ length: result.steps }, (_, i) => i + 1));
  // The best evaluation is followed by exactly `patience` worse ones, the last at the final step.
  const values = evals.map((e) => e.val_loss);
  const best = values.indexOf(Math.min(...values));
  expect(result.bestValLoss).toBe(values[best]);
  expect(evals.length - 1 - best).toBe(cfg.patience);
  // No earlier stretch of `patience` evaluations without improvement went unnoticed.
  let running = Infinity, since = 0;
  for (const v of values.slice(0, -1)) {
    if (v < running) { running = v; since = 0; } else since++;
    expect(since).toBeLessThan(cfg.patience);
  }
  // The training loss did fall: the model learned the pattern while validation got worse.
  const losses = lines.filter((l) => 'loss' in l).map((l) => l.loss);
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  expect(values[values.length - 1]).toBeGreaterThan(values[0]);
  // The stopping step is checkpointed.
  expect((await listCheckpoints(dir)).at(-1)).toBe(result.steps);
});

test('patience 0 never stops early', async () => {
  const trainer = new Trainer(gpu, { ...cfg, patience: 0, steps: 6, checkpointEvery: 0 }, model, data, null);
  await trainer.init(false);
  const evals: EvalLog[] = [];
  const result = await trainer.train({ onEval: (e) => evals.push(e) });
  trainer.dispose();
  expect(result.stoppedEarly).toBe(false);
  expect(result.steps).toBe(6);
  expect(evals).toHaveLength(6);
  expect(Math.min(...evals.slice(1).map((e) => e.val_loss))).toBeGreaterThan(evals[0].val_loss);
});

test('a resumed run remembers the best validation loss and the evaluations since it', async () => {
  const whole = new Trainer(gpu, cfg, model, data, null);
  await whole.init(false);
  const want = await whole.train();
  whole.dispose();
  expect(want.stoppedEarly).toBe(true);
  expect(want.steps).toBeGreaterThanOrEqual(3);

  // Killed just before the stopping evaluation's step finishes: the last checkpoint is two steps earlier.
  const dir = await tempDir();
  const crashed = new Trainer(gpu, cfg, model, data, dir);
  await crashed.init(false);
  await expect(crashed.train({ onLog: (l) => { if (l.step === want.steps - 1) throw new Error('killed'); } })).rejects.toThrow('killed');
  crashed.dispose();

  const resumed = new Trainer(gpu, cfg, model, data, dir);
  await resumed.init(true);
  expect(resumed.stepsDone).toBe(want.steps - 2);
  const got = await resumed.train();
  resumed.dispose();
  expect(got.stoppedEarly).toBe(true);
  expect(got.steps).toBe(want.steps);
  expect(got.bestValLoss).toBe(want.bestValLoss);
});
