// The GPU trainer against the f64 reference: same initial weights, same batches, same
// AdamW steps -> the same losses (within the stated tolerance), in f32 and f16 modes.
import { testGpu } from '../helpers/gpu.js';
import { lossAndGrads, adamwStep } from '../reference/gpt64.js';
import { Trainer } from '../../src/train/trainer.js';
import { presetConfig, applyOverrides } from '../../src/train/config.js';
import { Gpt, gptParamSpecs, initParams } from '../../src/models/gpt.js';
import { Tape, Var } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { cast } from '../../src/tensor/ops.js';
import type { GptConfig } from '../../src/models/config.js';
import { randomBatch, type TokenSplits } from '../../src/data/batches.js';
import { Rng } from '../../src/tensor/random.js';

const gpu = await testGpu();
const model: GptConfig = { vocabSize: 64, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0 };
const rng = new Rng(3);
const tokens = Uint32Array.from({ length: 600 }, () => rng.int(50));
const data: TokenSplits = { train: tokens.subarray(0, 500), val: tokens.subarray(500), vocabSize: 64, eosId: null };
const cfg = applyOverrides(presetConfig('tiny'), {
  batchSize: 3, seqLen: 13, steps: 4, lr: 1e-2, warmup: 0, schedule: 'constant', weightDecay: 0.1, gradClip: 1.0,
  logEvery: 1, evalEvery: 0, checkpointEvery: 0, sampleTokens: 0,
}, 'test');

function referenceLosses(steps: number): number[] {
  const specs = gptParamSpecs(model);
  const p = new Map([...initParams(specs, cfg.seed)].map(([k, v]) => [k, Float64Array.from(v)]));
  const decay = new Map(specs.map((s) => [s.name, s.decay]));
  const m = new Map(), v = new Map();
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const b = randomBatch(data.train, cfg.batchSize, cfg.seqLen, cfg.seed, step);
    const { loss, grads } = lossAndGrads(model, p, b.inputs, b.targets, cfg.batchSize, cfg.seqLen);
    losses.push(loss);
    adamwStep(p, grads, m, v, step + 1, { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: 1e-8, weightDecay: cfg.weightDecay, maxGradNorm: cfg.gradClip },
      (n) => decay.get(n)!);
  }
  return losses;
}

test('the f64 reference gradient matches finite differences', () => {
  const specs = gptParamSpecs(model);
  const p = new Map([...initParams(specs, 5)].map(([k, v]) => [k, Float64Array.from(v)]));
  const b = randomBatch(data.train, 2, 7, 1, 0);
  const { grads } = lossAndGrads(model, p, b.inputs, b.targets, 2, 7);
  const probe = new Rng(9);
  for (const name of ['wte', 'wpe', 'h.0.attn.c_attn.weight', 'h.1.ln_1.weight', 'h.0.mlp.c_fc.bias', 'h.1.attn.c_proj.weight', 'ln_f.bias']) {
    const w = p.get(name)!;
    for (let r = 0; r < 3; r++) {
      const i = probe.int(w.length);
      const h = 1e-5, old = w[i];
      w[i] = old + h; const up = lossAndGrads(model, p, b.inputs, b.targets, 2, 7).loss;
      w[i] = old - h; const down = lossAndGrads(model, p, b.inputs, b.targets, 2, 7).loss;
      w[i] = old;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - grads.get(name)![i]), `${name}[${i}]`).toBeLessThan(1e-7 + 1e-5 * Math.abs(fd));
    }
  }
});

// bf16 weights compute through f32 copies; f32 and f16 run the kernels directly.
const gradModes = gpu.caps.f16 ? (['f32', 'f16', 'bf16'] as const) : (['f32', 'bf16'] as const);
for (const dtype of gradModes) test(`${dtype} weight matrices: ${dtype} logits, and the loss and weight gradients of the f64 reference`, async () => {
  const specs = gptParamSpecs(model);
  const init = initParams(specs, cfg.seed);
  const weights = new Map<string, Var>();
  const held = new Map<string, Float64Array>();   // the weights as the GPU holds them
  for (const s of specs) {
    const full = Tensor.from(gpu, init.get(s.name)!, s.shape);
    const t = s.shape.length === 2 && dtype !== 'f32' ? cast(full, dtype) : full.ref();
    full.dispose();
    weights.set(s.name, new Var(t, true, s.name));
    held.set(s.name, Float64Array.from(await t.toArray()));
  }
  const [B, T] = [cfg.batchSize, cfg.seqLen];
  const batch = randomBatch(data.train, B, T, cfg.seed, 0);
  const want = lossAndGrads(model, held, batch.inputs, batch.targets, B, T);
  const gpt = new Gpt(gpu, model);
  const ids = Tensor.from(gpu, batch.inputs, [B * T], 'u32'), targets = Tensor.from(gpu, batch.targets, [B * T], 'u32');
  const tape = new Tape();
  expect(gpt.forward(tape, weights, ids, B, T).dtype).toBe(dtype);
  const loss = gpt.forward(tape, weights, ids, B, T, targets);
  const seed = Tensor.from(gpu, [1], [1]);
  tape.backward(loss, seed);
  expect(Math.abs((await loss.value.item()) - want.loss) / want.loss).toBeLessThan(dtype === 'f32' ? 1e-5 : 1e-2);
  for (const [name, v] of weights) {
    // bf16 weights get f32 gradients; f16 ones f16, or f32 where an f32 gradient is added in (wte).
    expect(v.value.dtype === 'f16' ? ['f16', 'f32'] : [v.value.dtype === 'bf16' ? 'f32' : v.value.dtype], name).toContain(v.grad!.dtype);
    const got = await v.grad!.toArray(), ref = want.grads.get(name)!;
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((t, x) => t + x * x, 0));
    const diff = norm(Array.from(got, (g, i) => g - ref[i]));
    // Activations and their gradients are rounded to 16 bits (bf16: 8 significant bits) at every op.
    expect(diff / norm(ref), name).toBeLessThan({ f32: 1e-4, f16: 1e-2, bf16: 5e-2 }[dtype]);
    v.grad!.dispose();
    v.value.dispose();
  }
  tape.dispose();
  [ids, targets].forEach((t) => t.dispose());
});

const modes = gpu.caps.f16 ? (['f32', 'f16', 'bf16'] as const) : (['f32', 'bf16'] as const);
for (const precision of modes) {
  test(`GPU training reproduces the f64 reference losses for 4 AdamW steps (${precision})`, async () => {
    const want = referenceLosses(cfg.steps);
    const trainer = new Trainer(gpu, { ...cfg, precision }, model, data, null);
    await trainer.init(false);
    // Exercise the chunked LM-head loss (used when logits exceed one storage binding).
    if (precision === 'f32') trainer.model.maxLogitRows = 16;
    const got = (await trainer.train()).losses;
    trainer.dispose();
    // f32: kernels differ from f64 only by rounding; f16 activations carry ~1e-3 relative
    // error and bf16 weights ~4e-3.
    const tol = precision === 'f32' ? 2e-4 : 2e-2;
    expect(got.length).toBe(want.length);
    got.forEach((l, i) => expect(Math.abs(l - want[i]) / want[i], `step ${i + 1}: ${l} vs ${want[i]}`).toBeLessThan(tol));
    expect(want[3]).toBeLessThan(want[0]);
  }, 300_000);
}
