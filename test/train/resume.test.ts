// Resuming after a crash: a run killed mid-way and resumed from its newest checkpoint logs the
// same losses and ends with the same weights as a run that was never interrupted, also when the
// crash left a temporary file and a truncated checkpoint behind.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testGpu } from '../helpers/gpu.js';
import { Trainer, type EvalLog } from '../../src/train/trainer.js';
import { applyOverrides, presetConfig, type TrainConfig } from '../../src/train/config.js';
import { checkpointPath, listCheckpoints } from '../../src/train/checkpoint.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { gptParamSpecs } from '../../src/models/gpt.js';
import type { GptConfig } from '../../src/models/config.js';
import type { TokenSplits } from '../../src/data/batches.js';
import { Rng } from '../../src/tensor/random.js';

const gpu = await testGpu();
// Dropout on, so the resumed run must also reproduce the dropout masks.
const model: GptConfig = { vocabSize: 64, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1 };
const rng = new Rng(11);
const tokens = Uint32Array.from({ length: 700 }, () => rng.int(60));
const data: TokenSplits = { train: tokens.subarray(0, 560), val: tokens.subarray(560), vocabSize: 64, eosId: null };
// A warmup-then-cosine schedule and two micro-batches per step: the learning rate, the
// batches and the optimizer's bias correction all depend on the restored step.
const baseConfig = applyOverrides(presetConfig('tiny'), {
  batchSize: 3, seqLen: 13, gradAccum: 2, steps: 6, lr: 1e-2, warmup: 2, schedule: 'cosine',
  logEvery: 1, evalEvery: 2, evalBatches: 2, checkpointEvery: 2, keepCheckpoints: 3, sampleTokens: 0,
}, 'test');

const tempDir = () => mkdtemp(join(tmpdir(), 'webtrain-resume-'));

async function weights(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of trainer.params) out.set(name, Float32Array.from(await v.value.toArray()));
  return out;
}

async function uninterrupted(cfg: TrainConfig) {
  const trainer = new Trainer(gpu, cfg, model, data, await tempDir());
  await trainer.init(false);
  const evals: EvalLog[] = [];
  const { losses } = await trainer.train({ onEval: (e) => evals.push(e) });
  const w = await weights(trainer);
  trainer.dispose();
  return { losses, evals, weights: w };
}

const modes = gpu.caps.f16 ? (['f32', 'f16', 'bf16'] as const) : (['f32', 'bf16'] as const);
for (const precision of modes) {
  test(`a run killed after step 5 and resumed matches the uninterrupted run (${precision})`, async () => {
    const cfg = { ...baseConfig, precision };
    const want = await uninterrupted(cfg);
    expect(want.losses).toHaveLength(6);

    const dir = await tempDir();
    const crashed = new Trainer(gpu, cfg, model, data, dir);
    await crashed.init(false);
    await expect(crashed.train({
      onLog: (l) => { if (l.step === 5) throw new Error('simulated kill after step 5'); },
    })).rejects.toThrow('simulated kill');
    crashed.dispose();
    expect(await listCheckpoints(dir)).toEqual([2, 4]);
    // Everything the run needs is in the file: weights, optimizer (and loss-scaler) state, step, settings.
    const saved = decodeSafetensors(await readFile(checkpointPath(dir, 4)));
    const names = Object.keys(saved.tensors);
    for (const s of gptParamSpecs(model)) {
      expect(saved.tensors['model.' + s.name]?.shape, s.name).toEqual(s.shape);
      expect(names.filter((n) => n.startsWith('optim.') && n.endsWith('.' + s.name)), s.name).toHaveLength(2); // AdamW m and v
    }
    expect(names.some((n) => n.includes('loss_scaler'))).toBe(precision === 'f16');
    expect(saved.metadata.step).toBe('4');
    expect(JSON.parse(saved.metadata.train_config)).toEqual(cfg);
    expect(JSON.parse(saved.metadata.model_config)).toEqual(model);
    expect(JSON.parse(saved.metadata.loop)).toMatchObject({ step: 4 });

    // What a kill during the next write could leave: a temporary file cut short, and (had the
    // disk lied about the sync) a renamed but truncated newest checkpoint.
    const good = await readFile(checkpointPath(dir, 4));
    await writeFile(`${checkpointPath(dir, 6)}.tmp-4242-1`, good.subarray(0, 1000));
    await writeFile(checkpointPath(dir, 5), good.subarray(0, good.length - 100));

    const warnings: string[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation((m: string) => void warnings.push(m));
    const resumed = new Trainer(gpu, cfg, model, data, dir);
    try {
      await resumed.init(true);
    } finally {
      warn.mockRestore();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('ckpt-00000005.safetensors');
    expect(warnings[0]).toContain('truncated');
    expect(resumed.stepsDone).toBe(4);

    const evals: EvalLog[] = [];
    const got = await resumed.train({ onEval: (e) => evals.push(e) });
    expect(got.steps).toBe(6);
    // Same kernels, same inputs, same state: the losses are bit-identical, not merely close.
    expect(got.losses).toEqual(want.losses.slice(4));
    expect(evals).toEqual([{ ...want.evals[2] }]);
    const w = await weights(resumed);
    for (const [name, values] of want.weights) expect(w.get(name), name).toEqual(values);
    resumed.dispose();

    // The next save cleared the stale temporary file; the metrics file has both runs' lines.
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const step6 = lines.filter((l) => l.step === 6 && 'loss' in l);
    expect(step6).toHaveLength(1);
    expect(step6[0].loss).toBe(want.losses[5]);
  }, 300_000); // the first run per precision compiles its kernels: slow with a cold shader cache
}

test('resuming from a directory whose every checkpoint is corrupt names each bad file', async () => {
  const dir = await tempDir();
  await writeFile(checkpointPath(dir, 2), new Uint8Array([1, 2, 3]));
  await writeFile(checkpointPath(dir, 4), new Uint8Array(64));
  const trainer = new Trainer(gpu, baseConfig, model, data, dir);
  const err = await trainer.init(true).then(() => null, (e: Error) => e);
  expect(err?.name).toBe('CorruptFileError');
  expect(err?.message).toContain('ckpt-00000002.safetensors');
  expect(err?.message).toContain('ckpt-00000004.safetensors');
  expect(err?.message).toMatch(/truncated|corrupt/);
});
