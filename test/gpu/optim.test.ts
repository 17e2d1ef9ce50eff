// Optimizers against f64 CPU references written here, on awkward sizes (17x33 matrices, 7-vectors,
// views at odd offsets), with clipping, loss scaling, low-precision copies, and state round trips.
import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits, type DType } from '../../src/tensor/dtype.js';
import {
  AdaFactor, AdamW, DynamicLossScaler, GradAccumulator, SGD, type Optimizer, type ParamSpec,
  constantSchedule, warmupCosineSchedule, warmupLinearSchedule,
} from '../../src/optim/index.js';
import { sumsqGroups, vec4Aligned } from '../../src/optim/kernels.js';
import { InputError, ShapeError } from '../../src/errors.js';

const gpu = await testGpu();
const gradDtypes: DType[] = gpu.caps.f16 ? ['f32', 'bf16', 'f16'] : ['f32', 'bf16'];

/** The value a host number has once stored in `dtype`. */
function held(v: number, dtype: DType): number {
  if (dtype === 'f16') return fromF16Bits(toF16Bits(v));
  if (dtype === 'bf16') return fromBf16Bits(toBf16Bits(v));
  return Math.fround(v);
}
const read = async (t: Tensor) => Float64Array.from(await t.toArray());
const sumSq = (xs: Float64Array[]) => xs.reduce((a, x) => a + x.reduce((s, v) => s + v * v, 0), 0);
const rms = (x: Float64Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

interface HostParam { name: string; shape: number[]; values: Float64Array; decay?: boolean }

function hostParams(seed: number): HostParam[] {
  return [
    { name: 'w', shape: [17, 33], values: randn(17 * 33, seed).map(Math.fround) },
    { name: 'b', shape: [7], values: randn(7, seed + 1).map(Math.fround) },
    { name: 'stack', shape: [2, 5, 6], values: randn(60, seed + 2).map(Math.fround), decay: false },
  ];
}

/**
 * Uploads parameters; 'b' is a view at element offset 5 of a larger buffer, to exercise offsets.
 * Returns the specs and the tensors to dispose.
 */
function uploadParams(hp: HostParam[]): { specs: ParamSpec[]; owned: Tensor[] } {
  const owned: Tensor[] = [];
  const specs = hp.map(({ name, shape, values, decay }) => {
    if (name === 'b') {
      const big = Tensor.from(gpu, [...randn(5, 99), ...values, 0, 0, 0], [values.length + 8]);
      owned.push(big);
      const view = big.slice(0, 5, 5 + values.length);
      owned.push(view);
      return { name, param: view, decay };
    }
    const param = Tensor.from(gpu, values, shape);
    owned.push(param);
    return { name, param, decay };
  });
  return { specs, owned };
}

/** Host gradients for a step (already rounded to the gradient dtype), and their GPU tensors. */
function makeGrads(hp: HostParam[], seed: number, scale: number, dtype: DType): { host: Float64Array[]; gpu: Map<string, Tensor> } {
  const host = hp.map((p, i) => randn(p.values.length, seed * 31 + i).map((v) => held(v * scale, dtype)));
  return { host, gpu: new Map(hp.map((p, i) => [p.name, Tensor.from(gpu, host[i], p.shape, dtype)])) };
}
const disposeAll = (m: Map<string, Tensor>) => m.forEach((t) => t.dispose());

/** Global-norm clip multiplier as PyTorch's clip_grad_norm_ computes it, in f64. */
function clipCoef(grads: Float64Array[], maxNorm: number | undefined, invScale = 1): { norm: number; coef: number } {
  const norm = Math.sqrt(sumSq(grads)) * invScale;
  return { norm, coef: maxNorm === undefined ? 1 : Math.min(1, maxNorm / (norm + 1e-6)) };
}

// ---- f64 references -----------------------------------------------------------------------------

function adamwRef(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, t: number,
  o: { lr: number; b1: number; b2: number; eps: number; wd: number }): void {
  const stepSize = o.lr / (1 - o.b1 ** t);
  const bc2Sqrt = Math.sqrt(1 - o.b2 ** t);
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - o.lr * o.wd;
    m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
    v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
    p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + o.eps);
  }
}

function sgdRef(p: Float64Array, g: Float64Array, buf: Float64Array, o: { lr: number; momentum: number; nesterov: boolean; wd: number }): void {
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + o.wd * p[i];
    if (o.momentum > 0) {
      buf[i] = o.momentum * buf[i] + d;
      d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
    }
    p[i] -= o.lr * d;
  }
}

interface AdaFactorRefState { row?: Float64Array; col?: Float64Array; v?: Float64Array; ema?: Float64Array }

/** HF transformers' Adafactor step for one parameter (a batch of matrices over the last two dims). */
function adafactorRef(p: Float64Array, g: Float64Array, shape: number[], s: AdaFactorRefState, t: number,
  o: { lr?: number; eps1: number; eps2: number; clip: number; decay: number; b1: number; wd: number }): void {
  let lr = o.lr ?? Math.min(1e-2, 1 / Math.sqrt(t));
  lr *= Math.max(o.eps2, rms(p));
  const b2t = 1 - t ** o.decay;
  const u = new Float64Array(p.length);
  if (shape.length >= 2) {
    const [rows, cols] = shape.slice(-2);
    const batches = p.length / (rows * cols);
    s.row ??= new Float64Array(batches * rows);
    s.col ??= new Float64Array(batches * cols);
    for (let b = 0; b < batches; b++) {
      const at = (i: number, j: number) => (b * rows + i) * cols + j;
      for (let i = 0; i < rows; i++) {
        let acc = 0;
        for (let j = 0; j < cols; j++) acc += g[at(i, j)] ** 2 + o.eps1;
        s.row[b * rows + i] = b2t * s.row[b * rows + i] + (1 - b2t) * (acc / cols);
      }
      for (let j = 0; j < cols; j++) {
        let acc = 0;
        for (let i = 0; i < rows; i++) acc += g[at(i, j)] ** 2 + o.eps1;
        s.col[b * cols + j] = b2t * s.col[b * cols + j] + (1 - b2t) * (acc / rows);
      }
      let rowMean = 0;
      for (let i = 0; i < rows; i++) rowMean += s.row[b * rows + i] / rows;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) u[at(i, j)] = g[at(i, j)] / Math.sqrt(s.row[b * rows + i] / rowMean) / Math.sqrt(s.col[b * cols + j]);
      }
    }
  } else {
    s.v ??= new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      s.v[i] = b2t * s.v[i] + (1 - b2t) * (g[i] ** 2 + o.eps1);
      u[i] = g[i] / Math.sqrt(s.v[i]);
    }
  }
  const clipDiv = Math.max(1, rms(u) / o.clip);
  for (let i = 0; i < p.length; i++) u[i] = (u[i] / clipDiv) * lr;
  if (o.b1 > 0) {
    s.ema ??= new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) u[i] = s.ema[i] = o.b1 * s.ema[i] + (1 - o.b1) * u[i];
  }
  for (let i = 0; i < p.length; i++) p[i] = p[i] - o.wd * lr * p[i] - u[i];
}

async function expectParams(specs: ParamSpec[], want: Float64Array[], tol: number, what: string): Promise<void> {
  for (let i = 0; i < specs.length; i++) {
    expect(maxRelErr(await read(specs[i].param), want[i], 1e-3), `${what}: ${specs[i].name}`).toBeLessThan(tol);
  }
}

// ---- tests --------------------------------------------------------------------------------------

for (const gdtype of gradDtypes) {
  test(`AdamW matches the f64 reference over 5 steps with a schedule, clipping and per-tensor decay (${gdtype} grads)`, async () => {
    const hp = hostParams(3);
    const { specs, owned } = uploadParams(hp);
    const cfg = { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 5 };
    const opt = new AdamW(gpu, specs, { lr: cfg.lr, beta1: cfg.b1, beta2: cfg.b2, eps: cfg.eps, weightDecay: cfg.weightDecay, maxGradNorm: cfg.maxGradNorm });
    const schedule = warmupCosineSchedule({ lr: cfg.lr, warmupSteps: 2, totalSteps: 5, minLr: 1e-3 });
    const ref = hp.map((p) => ({ p: Float64Array.from(p.values), m: new Float64Array(p.values.length), v: new Float64Array(p.values.length) }));
    let clipped = 0;
    for (let step = 0; step < 5; step++) {
      const grads = makeGrads(hp, step + 1, step % 2 ? 3 : 0.1, gdtype);
      const lr = schedule(step);
      opt.step(grads.gpu, lr);
      const { norm, coef } = clipCoef(grads.host, cfg.maxGradNorm);
      if (coef < 1) clipped++;
      expect(Math.abs((await opt.gradNorm.item()) - norm) / norm).toBeLessThan(1e-5);
      hp.forEach((p, i) => {
        const wd = (p.decay ?? p.shape.length >= 2) ? cfg.weightDecay : 0;
        adamwRef(ref[i].p, grads.host[i].map((g) => g * coef), ref[i].m, ref[i].v, step + 1, { ...cfg, lr, wd });
      });
      disposeAll(grads.gpu);
    }
    expect(clipped).toBeGreaterThan(0);
    await expectParams(specs, ref.map((r) => r.p), 1e-5, 'AdamW');
    const state = opt.stateTensors();
    expect(maxRelErr(await read(state['adamw.v.w']), ref[0].v, 1e-6)).toBeLessThan(1e-4);
    expect(maxRelErr(await read(state['adamw.m.stack']), ref[2].m, 1e-4)).toBeLessThan(1e-4);
    expect((await read(state['optim.control']))[0]).toBe(5); // t: applied updates
    opt.dispose();
    owned.forEach((t) => t.dispose());
  });
}

/** `values` as a view at element `offset` of a larger buffer, between `pad` copies of `fill`. */
function placed(values: ArrayLike<number>, offset: number, dtype: DType, fill: number, pad = 5): { base: Tensor; view: Tensor } {
  const base = Tensor.from(gpu, [...Array(offset).fill(fill), ...Array.from(values), ...Array(pad).fill(fill)], [offset + values.length + pad], dtype);
  return { base, view: base.slice(0, offset, offset + values.length) };
}
const bits = (x: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(x).buffer));

for (const gdtype of gradDtypes) {
  test(`AdamW: the vector and scalar paths match f64 and each other bit for bit, at ragged sizes and offsets with f16/bf16 copies (${gdtype} grads)`, async () => {
    const f16Copy: DType = gpu.caps.f16 ? 'f16' : 'bf16';
    const oddF16 = (o: number) => (gpu.caps.f16 ? o : o + 1); // bf16 copies start on a word
    // Element offsets [parameter, gradient, copy] in two runs: each tensor takes the vector path (VEC4:
    // parameter and gradient offsets multiples of 4) in one run and the scalar path in the other.
    const layouts: { n: number; copy?: DType; at: [number, number, number][] }[] = [
      { n: 1001, copy: f16Copy, at: [[0, 0, oddF16(1)], [1, 1, oddF16(3)]] },
      { n: 1003, copy: 'bf16', at: [[4, 8, 2], [5, 8, 2]] },
      { n: 1002, copy: f16Copy, at: [[8, 4, 4], [8, 5, 6]] },
      { n: 1001, copy: 'bf16', at: [[1, 0, 0], [4, 0, 0]] },
      { n: 1003, copy: f16Copy, at: [[0, 3, oddF16(3)], [0, 4, oddF16(1)]] },
      { n: 1000, at: [[0, 0, 0], [2, 2, 0]] },
    ];
    const vecPath = (run: number) => layouts.map((l) => l.at[run][0] % 4 === 0 && l.at[run][1] % 4 === 0);
    expect(vecPath(0)).toEqual(vecPath(1).map((v) => !v));
    const cfg = { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 100 }; // the norm is about 45, and 450 in step 2
    const init = layouts.map((l, i) => randn(l.n, 500 + i).map(Math.fround));
    const grads = [0, 1, 2].map((step) => layouts.map((l, i) => randn(l.n, 600 + 10 * step + i).map((v) => held(v * (step === 1 ? 10 : 1), gdtype))));
    /** Three steps with the tensors placed as in run `r`; returns the bits to compare. */
    const run = async (r: number) => {
      const owned: Tensor[] = [];
      const keep = <T extends { base: Tensor; view: Tensor }>(x: T) => { owned.push(x.base, x.view); return x; };
      const params = layouts.map((l, i) => keep(placed(init[i], l.at[r][0], 'f32', 3)));
      const copies = layouts.map((l) => (l.copy ? keep(placed(new Float64Array(l.n), l.at[r][2], l.copy, 7)) : undefined));
      const opt = new AdamW(gpu, layouts.map((_, i) => ({ name: `p${i}`, param: params[i].view, decay: i !== 5, lowPrecisionCopy: copies[i]?.view })),
        { lr: cfg.lr, beta1: cfg.b1, beta2: cfg.b2, eps: cfg.eps, weightDecay: cfg.weightDecay, maxGradNorm: cfg.maxGradNorm });
      const ref = layouts.map((_, i) => ({ p: Float64Array.from(init[i]), m: new Float64Array(init[i].length), v: new Float64Array(init[i].length) }));
      let clipped = 0;
      for (let step = 0; step < 3; step++) {
        const g = layouts.map((l, i) => keep(placed(grads[step][i], l.at[r][1], gdtype, NaN)));
        if (step === 0) expect(layouts.map((_, i) => vec4Aligned(params[i].view, g[i].view)), `run ${r}`).toEqual(vecPath(r));
        opt.step(g.map((x) => x.view));
        const { coef } = clipCoef(grads[step], cfg.maxGradNorm);
        if (coef < 1) clipped++;
        ref.forEach((rf, i) => adamwRef(rf.p, grads[step][i].map((x) => x * coef), rf.m, rf.v, step + 1, { ...cfg, wd: i !== 5 ? cfg.weightDecay : 0 }));
      }
      expect(clipped).toBe(1);
      const out: number[][] = [];
      const st = opt.stateTensors();
      for (let i = 0; i < layouts.length; i++) {
        const l = layouts[i];
        const [op, , oc] = l.at[r];
        const p = await read(params[i].view);
        expect(maxRelErr(p, ref[i].p, 1e-3), `param ${i}, run ${r}`).toBeLessThan(1e-5);
        const around = Array.from(await params[i].base.toArray());
        expect([...around.slice(0, op), ...around.slice(op + l.n)], `around param ${i}, run ${r}`).toEqual(Array(op + 5).fill(3));
        out.push(bits(p), bits(await st[`adamw.m.p${i}`].toArray()), bits(await st[`adamw.v.p${i}`].toArray()));
        const c = copies[i];
        if (c) {
          expect(Array.from(await c.view.toArray()), `copy ${i}, run ${r}`).toEqual(Array.from(p, (v) => held(v, l.copy!)));
          const cb = Array.from(await c.base.toArray());
          expect([...cb.slice(0, oc), ...cb.slice(oc + l.n)], `around copy ${i}, run ${r}`).toEqual(Array(oc + 5).fill(7));
        }
      }
      opt.dispose();
      owned.forEach((t) => t.dispose());
      return out;
    };
    expect(await run(1)).toEqual(await run(0));
  });
}

test('gradient sum of squares: several workgroups, any offset and dtype, nothing outside the view, the same bits every time', async () => {
  expect([1, 8192, 8193, 20003, 1e9].map(sumsqGroups)).toEqual([1, 1, 2, 3, 1024]);
  const n = 20003; // 3 workgroups, each thread several runs of 4, a ragged last run
  const param = Tensor.zeros(gpu, [n]);
  const opt = new SGD(gpu, [{ name: 'w', param }], { lr: 0 });
  for (const gdtype of gradDtypes) {
    const g = randn(n, 800).map((v) => held(v * 0.5, gdtype));
    const want = Math.sqrt(sumSq([g]));
    const norms: number[] = [];
    for (const offset of [0, 3, 4, 6]) {
      const { base, view } = placed(g, offset, gdtype, NaN); // NaN around the view must not count
      expect(vec4Aligned(view)).toBe(offset % 4 === 0);
      for (let rep = 0; rep < 2; rep++) {
        opt.step([view]);
        norms.push(await opt.gradNorm.item());
        expect(await opt.foundInf.item()).toBe(0);
      }
      base.dispose(); view.dispose();
      // A NaN (an inf for f16: 1e6 overflows) is found on either path. Element 17762 is in run 4440 =
      // 5 * 768 + 600: workgroup 2, thread 88, the second run of its third loop iteration.
      const bad = placed(g.map((v, i) => (i === 17762 ? (gdtype === 'f16' ? 1e6 : NaN) : v)), offset, gdtype, 0);
      opt.step([bad.view]);
      expect(await opt.foundInf.item(), `${gdtype} offset ${offset}`).toBe(1);
      bad.base.dispose(); bad.view.dispose();
    }
    expect(Math.abs(norms[0] - want) / want, gdtype).toBeLessThan(1e-5);
    expect(norms, gdtype).toEqual(Array(norms.length).fill(norms[0]));
  }
  opt.dispose();
  param.dispose();
});

test('SGD with momentum, Nesterov and L2 weight decay matches the f64 reference', async () => {
  for (const [momentum, nesterov] of [[0, false], [0.9, false], [0.9, true]] as const) {
    const hp = hostParams(7);
    const { specs, owned } = uploadParams(hp);
    const cfg = { lr: 0.05, momentum, nesterov, wd: 0.01 };
    const opt = new SGD(gpu, specs, { lr: cfg.lr, momentum, nesterov, weightDecay: cfg.wd });
    const ref = hp.map((p) => ({ p: Float64Array.from(p.values), buf: new Float64Array(p.values.length) }));
    for (let step = 0; step < 4; step++) {
      const grads = makeGrads(hp, 40 + step, 1, 'f32');
      opt.step([...grads.gpu.values()]);
      hp.forEach((p, i) => sgdRef(ref[i].p, grads.host[i], ref[i].buf, { ...cfg, wd: (p.decay ?? p.shape.length >= 2) ? cfg.wd : 0 }));
      disposeAll(grads.gpu);
    }
    await expectParams(specs, ref.map((r) => r.p), 1e-5, `SGD momentum ${momentum} nesterov ${nesterov}`);
    expect(Object.keys(opt.stateTensors()).filter((k) => k.startsWith('sgd.momentum.')).length).toBe(momentum ? 3 : 0);
    opt.dispose();
    owned.forEach((t) => t.dispose());
  }
});

for (const variant of [
  { label: 'relative step, no momentum', opts: {}, ref: { b1: 0, wd: 0 } },
  { label: 'fixed lr, momentum, weight decay', opts: { lr: 3e-2, beta1: 0.9, weightDecay: 0.1 }, ref: { lr: 3e-2, b1: 0.9, wd: 0.1 } },
  { label: 'loss-scaled bf16 gradients, global clipping, a skipped step', opts: { maxGradNorm: 0.3 }, ref: { b1: 0, wd: 0 }, scaled: true },
]) {
  test(`AdaFactor matches the f64 reference over 4 steps (${variant.label})`, async () => {
    const hp = hostParams(11);
    const { specs, owned } = uploadParams(hp);
    const scaler = variant.scaled ? new DynamicLossScaler(gpu, { initScale: 256, growthInterval: 1000 }) : undefined;
    const opt = new AdaFactor(gpu, specs, { ...variant.opts, lossScaler: scaler });
    const ref = hp.map((p) => ({ p: Float64Array.from(p.values), s: {} as AdaFactorRefState }));
    const cfg = { eps1: 1e-30, eps2: 1e-3, clip: 1, decay: -0.8, ...variant.ref };
    const maxNorm = 'maxGradNorm' in variant.opts ? variant.opts.maxGradNorm : undefined;
    let t = 0;
    for (let step = 0; step < 5; step++) {
      // AdaFactor's update is invariant to the gradient's scale, but its row/column/v state is not:
      // the state comparisons below check the unscaling.
      const lossScale = scaler ? await scaler.readScale() : 1;
      // Mostly small gradients; the step-2 gradients are large to exercise update clipping.
      const grads = makeGrads(hp, 70 + step, (step === 2 ? 10 : 0.01) * lossScale, variant.scaled ? 'bf16' : 'f32');
      if (variant.scaled && step === 1) { // a NaN gradient: the step must leave all state alone
        grads.gpu.get('w')!.dispose();
        grads.gpu.set('w', Tensor.from(gpu, grads.host[0].map((v, i) => (i === 100 ? NaN : v)), [17, 33], 'bf16'));
        const stateBefore = await Promise.all(Object.values(opt.stateTensors()).map((x) => x.toArray()));
        const paramsBefore = await Promise.all(specs.map((x) => x.param.toArray()));
        opt.step(grads.gpu);
        expect(await Promise.all(specs.map((x) => x.param.toArray()))).toEqual(paramsBefore);
        const stateAfter = await Promise.all(Object.values(opt.stateTensors()).map((x) => x.toArray()));
        // Everything but the control words (norm, skip flags) and the scaler state stays as it was.
        expect(stateAfter.slice(2)).toEqual(stateBefore.slice(2));
        expect(await scaler!.readSkipped()).toBe(1);
        expect(await scaler!.readScale()).toBe(128);
        disposeAll(grads.gpu);
        continue;
      }
      opt.step(grads.gpu);
      t++;
      const { coef } = clipCoef(grads.host, maxNorm, 1 / lossScale);
      hp.forEach((p, i) => adafactorRef(ref[i].p, grads.host[i].map((g) => (g / lossScale) * coef), p.shape, ref[i].s, t,
        { ...cfg, wd: (p.decay ?? p.shape.length >= 2) ? cfg.wd : 0 }));
      disposeAll(grads.gpu);
    }
    await expectParams(specs, ref.map((r) => r.p), 1e-5, 'AdaFactor');
    const st = opt.stateTensors();
    expect(st['adafactor.row.w'].shape).toEqual([17]);
    expect(st['adafactor.col.w'].shape).toEqual([33]);
    expect(st['adafactor.row.stack'].shape).toEqual([2, 5]);
    expect(st['adafactor.col.stack'].shape).toEqual([2, 6]);
    expect(st['adafactor.v.b'].shape).toEqual([7]);
    expect(st['adafactor.v.w']).toBeUndefined();
    expect(maxRelErr(await read(st['adafactor.row.w']), ref[0].s.row!, 1e-12)).toBeLessThan(1e-5);
    expect(maxRelErr(await read(st['adafactor.col.stack']), ref[2].s.col!, 1e-12)).toBeLessThan(1e-5);
    expect(maxRelErr(await read(st['adafactor.v.b']), ref[1].s.v!, 1e-12)).toBeLessThan(1e-5);
    expect('adafactor.ema.w' in st).toBe(variant.ref.b1 > 0);
    expect((await read(st['optim.control']))[0]).toBe(t);
    opt.dispose();
    scaler?.dispose();
    owned.forEach((x) => x.dispose());
  });
}

test('AdaFactor reductions are deterministic: two runs agree bit for bit', async () => {
  const runOnce = async () => {
    const hp = hostParams(5);
    hp[0] = { name: 'w', shape: [300, 70], values: randn(300 * 70, 5).map(Math.fround) }; // several workgroups per reduction
    const { specs, owned } = uploadParams(hp);
    const opt = new AdaFactor(gpu, specs, { maxGradNorm: 1 });
    for (let step = 0; step < 2; step++) {
      const grads = makeGrads(hp, 90 + step, 1, 'f32');
      opt.step(grads.gpu);
      disposeAll(grads.gpu);
    }
    const out = [await opt.gradNorm.item(), ...(await specs[0].param.toArray())];
    opt.dispose();
    owned.forEach((t) => t.dispose());
    return out;
  };
  expect(await runOnce()).toEqual(await runOnce());
});

test('global-norm clipping: the norm over all tensors matches f64 and scales the update; no clip below the limit', async () => {
  const hp = hostParams(13);
  const { specs, owned } = uploadParams(hp);
  const maxGradNorm = 2;
  const opt = new SGD(gpu, specs, { lr: 1, maxGradNorm });
  for (const scale of [4, 0.01]) {
    const before = await Promise.all(specs.map((s) => read(s.param)));
    const grads = makeGrads(hp, 17, scale, 'f32');
    opt.step(grads.gpu);
    const { norm, coef } = clipCoef(grads.host, maxGradNorm);
    expect(Math.abs((await opt.gradNorm.item()) - norm) / norm).toBeLessThan(1e-6);
    expect(coef < 1).toBe(scale === 4);
    for (let i = 0; i < specs.length; i++) {
      const after = await read(specs[i].param);
      const applied = after.map((v, k) => before[i][k] - v);
      const want = grads.host[i].map((g) => g * coef);
      expect(maxRelErr(applied, want, 1e-4), specs[i].name).toBeLessThan(1e-3);
    }
    disposeAll(grads.gpu);
  }
  opt.dispose();
  owned.forEach((t) => t.dispose());
});

test('dynamic loss scaling: unscales, skips a step with inf/nan, halves the scale, grows it after N good steps', async () => {
  const gdtype: DType = gpu.caps.f16 ? 'f16' : 'f32';
  const hp = hostParams(21);
  const { specs, owned } = uploadParams(hp);
  const scaler = new DynamicLossScaler(gpu, { initScale: 1024, growthInterval: 3 });
  const opt = new AdamW(gpu, specs, { lr: 1e-2, maxGradNorm: 1, lossScaler: scaler });
  const ref = hp.map((p) => ({ p: Float64Array.from(p.values), m: new Float64Array(p.values.length), v: new Float64Array(p.values.length) }));
  const cfg = { lr: 1e-2, b1: 0.9, b2: 0.999, eps: 1e-8 };
  let t = 0;
  /** One step with gradients multiplied by the current scale; `poison` puts inf or nan in one. */
  const step = async (seed: number, poison?: number) => {
    const scale = await scaler.readScale();
    const grads = makeGrads(hp, seed, 0.5 * scale, gdtype);
    if (poison !== undefined) {
      grads.gpu.get('b')!.dispose();
      grads.host[1][3] = poison;
      grads.gpu.set('b', Tensor.from(gpu, grads.host[1], [7], gdtype));
    }
    opt.step(grads.gpu);
    if (poison === undefined) {
      t++;
      const { norm, coef } = clipCoef(grads.host, 1, 1 / scale);
      expect(Math.abs((await opt.gradNorm.item()) - norm) / norm).toBeLessThan(1e-5);
      hp.forEach((p, i) => adamwRef(ref[i].p, grads.host[i].map((g) => (g / scale) * coef), ref[i].m, ref[i].v, t,
        { ...cfg, wd: p.shape.length >= 2 && p.decay !== false ? 0.01 : 0 }));
    }
    disposeAll(grads.gpu);
  };
  await step(1);
  expect(await scaler.readScale()).toBe(1024);
  await step(2, gdtype === 'f16' ? 1e6 : Infinity); // 1e6 overflows f16 to inf, as a real f16 backward would
  expect(await opt.foundInf.item()).toBe(1);
  expect(await scaler.readScale()).toBe(512);
  expect(await scaler.readSkipped()).toBe(1);
  await expectParams(specs, ref.map((r) => r.p), 1e-5, 'after the skipped step, parameters are unchanged');
  await step(3, NaN);
  expect(await scaler.readScale()).toBe(256);
  expect(await scaler.readSkipped()).toBe(2);
  await step(4);
  expect(await opt.foundInf.item()).toBe(0);
  await step(5);
  expect(await scaler.readScale()).toBe(256);
  await step(6); // the third good step in a row doubles the scale
  expect(await scaler.readScale()).toBe(512);
  expect((await read(opt.stateTensors()['optim.control']))[0]).toBe(4); // skipped steps are not counted in t
  expect(opt.stepCount).toBe(6);
  await expectParams(specs, ref.map((r) => r.p), 1e-5, 'AdamW with loss scaling');
  opt.dispose();
  scaler.dispose();
  owned.forEach((t) => t.dispose());
});

test('the optimizer writes an f16 or bf16 copy of the updated weights (views at odd and even offsets)', async () => {
  const copyDtypes: DType[] = gpu.caps.f16 ? ['bf16', 'f16'] : ['bf16'];
  for (const cdtype of copyDtypes) {
    const w = Tensor.from(gpu, randn(17 * 33, 31), [17, 33]);
    const b = Tensor.from(gpu, randn(7, 32), [7]);
    const wLow = Tensor.zeros(gpu, [17, 33], cdtype);
    const sentinel = [0.5, -2, 0.25];
    const backing = Tensor.from(gpu, [9, 9, 0, 0, 0, 0, 0, 0, 0, ...sentinel], [12], cdtype); // b's copy at offset 2, then 3 sentinels
    const bLow = backing.slice(0, 2, 9);
    for (const make of [
      () => new AdamW(gpu, [{ name: 'w', param: w, lowPrecisionCopy: wLow }, { name: 'b', param: b, lowPrecisionCopy: bLow }]),
      () => new SGD(gpu, [{ name: 'w', param: w, lowPrecisionCopy: wLow }, { name: 'b', param: b, lowPrecisionCopy: bLow }], { lr: 0.1, momentum: 0.9 }),
      () => new AdaFactor(gpu, [{ name: 'w', param: w, lowPrecisionCopy: wLow }, { name: 'b', param: b, lowPrecisionCopy: bLow }]),
    ]) {
      const opt = make();
      const g = [Tensor.from(gpu, randn(17 * 33, 33), [17, 33]), Tensor.from(gpu, randn(7, 34), [7])];
      opt.step(g);
      for (const [param, low] of [[w, wLow], [b, bLow]] as const) {
        const p = await read(param);
        expect(Array.from(await low.toArray()), `${opt.constructor.name} ${cdtype}`).toEqual(Array.from(p, (v) => held(v, cdtype)));
      }
      expect(Array.from(await backing.toArray()).slice(0, 2)).toEqual([9, 9]);
      expect(Array.from(await backing.toArray()).slice(9)).toEqual(sentinel);
      g.forEach((t) => t.dispose());
      opt.dispose();
    }
    [w, b, wLow, bLow, backing].forEach((t) => t.dispose());
  }
});

test('save/load state round trip: a resumed optimizer continues bit for bit', async () => {
  const factories: [string, (specs: ParamSpec[], scaler: DynamicLossScaler) => Optimizer][] = [
    ['AdamW', (s, lossScaler) => new AdamW(gpu, s, { lr: 1e-2, maxGradNorm: 1, lossScaler })],
    ['AdaFactor', (s, lossScaler) => new AdaFactor(gpu, s, { beta1: 0.9, lossScaler })],
    ['SGD', (s, lossScaler) => new SGD(gpu, s, { lr: 0.1, momentum: 0.9, lossScaler })],
  ];
  for (const [label, make] of factories) {
    const hp = hostParams(41);
    const a = uploadParams(hp);
    const scalerA = new DynamicLossScaler(gpu, { initScale: 64, growthInterval: 2 });
    const optA = make(a.specs, scalerA);
    const grads = [1, 2, 3, 4, 5].map((s) => makeGrads(hp, 200 + s, 8, 'f32'));
    for (const g of grads.slice(0, 3)) optA.step(g.gpu);
    // A checkpoint: host copies of the state and the weights, as safetensors would hold them.
    const saved = await Promise.all(Object.entries(optA.stateTensors()).map(async ([k, t]) => [k, await t.toArray(), t.shape] as const));
    const savedParams = await Promise.all(a.specs.map((s) => read(s.param)));
    const b = uploadParams(hp.map((p, i) => ({ ...p, values: savedParams[i] })));
    const scalerB = new DynamicLossScaler(gpu, { initScale: 1, growthInterval: 2 }); // same settings; the scale comes from the checkpoint
    const optB = make(b.specs, scalerB);
    const loaded = Object.fromEntries(saved.map(([k, v, shape]) => [k, Tensor.from(gpu, v, shape)]));
    optB.loadState({ ...loaded, 'model.unrelated': loaded['optim.control'] }, optA.stepCount);
    expect(optB.stepCount).toBe(3);
    Object.values(loaded).forEach((t) => t.dispose());
    for (const g of grads.slice(3)) { optA.step(g.gpu); optB.step(g.gpu); }
    for (let i = 0; i < hp.length; i++) {
      expect(Array.from(await b.specs[i].param.toArray()), `${label} ${hp[i].name}`).toEqual(Array.from(await a.specs[i].param.toArray()));
    }
    const [sa, sb] = [optA.stateTensors(), optB.stateTensors()];
    for (const k of Object.keys(sa)) expect(Array.from(await sb[k].toArray()), `${label} ${k}`).toEqual(Array.from(await sa[k].toArray()));
    expect(await scalerB.readScale()).toBe(await scalerA.readScale());
    grads.forEach((g) => disposeAll(g.gpu));
    [optA, optB, scalerA, scalerB].forEach((o) => o.dispose());
    [...a.owned, ...b.owned].forEach((t) => t.dispose());
  }
});

for (const gdtype of gradDtypes) {
  test(`gradient accumulation averages micro-batches into f32 (${gdtype})`, async () => {
    const w = Tensor.zeros(gpu, [17, 33]);
    const b = Tensor.zeros(gpu, [7]);
    const acc = new GradAccumulator(gpu, [{ name: 'w', param: w }, { name: 'b', param: b }], 3);
    for (let round = 0; round < 2; round++) { // the second round starts afresh after reset()
      const want = [new Float64Array(17 * 33), new Float64Array(7)];
      for (let k = 0; k < 3; k++) {
        const gw = randn(17 * 33, 300 + 10 * round + k).map((v) => held(v, gdtype));
        const gb = randn(7, 400 + 10 * round + k).map((v) => held(v, gdtype));
        const tensors = [Tensor.from(gpu, gw, [17, 33], gdtype), Tensor.from(gpu, gb, [7], gdtype)];
        acc.add(tensors);
        gw.forEach((v, i) => { want[0][i] += v / 3; });
        gb.forEach((v, i) => { want[1][i] += v / 3; });
        tensors.forEach((t) => t.dispose());
      }
      expect(acc.complete).toBe(true);
      expect(() => acc.add([w, b])).toThrow(InputError);
      // Absolute error (values are O(1); sums near 0 cancel): f32 rounding of 3 terms.
      expect(maxRelErr(await read(acc.grads.get('w')!), want[0], 1)).toBeLessThan(1e-6);
      expect(maxRelErr(await read(acc.grads.get('b')!), want[1], 1)).toBeLessThan(1e-6);
      acc.reset();
    }
    acc.dispose();
    w.dispose(); b.dispose();
  });
}

test('schedules: constant, warmup + cosine, warmup + linear at key steps', () => {
  expect([0, 7, 1000].map(constantSchedule(3e-4))).toEqual([3e-4, 3e-4, 3e-4]);
  const o = { lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 };
  const cos = warmupCosineSchedule(o);
  const lin = warmupLinearSchedule(o);
  for (const s of [cos, lin]) {
    expect(s(0)).toBeCloseTo(0.1, 12);
    expect(s(4)).toBeCloseTo(0.5, 12);
    expect(s(9)).toBeCloseTo(1, 12);
    expect(s(10)).toBeCloseTo(1, 12);
    expect(s(60)).toBeCloseTo(0.55, 12); // half way through the decay
    expect(s(110)).toBeCloseTo(0.1, 12);
    expect(s(5000)).toBeCloseTo(0.1, 12);
  }
  expect(cos(35)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
  expect(lin(35)).toBeCloseTo(1 - 0.9 * 0.25, 12);
  expect(warmupLinearSchedule({ lr: 2, warmupSteps: 0, totalSteps: 4 })(2)).toBeCloseTo(1, 12);
  expect(() => cos(-1)).toThrow(InputError);
  expect(() => cos(1.5)).toThrow(InputError);
  expect(() => warmupCosineSchedule({ lr: 1, warmupSteps: 5, totalSteps: 3 })).toThrow(/totalSteps/);
  expect(() => warmupLinearSchedule({ lr: 1, warmupSteps: 0, totalSteps: 3, minLr: 2 })).toThrow(/minLr/);
});

test('bad parameters, gradients, hyper-parameters and checkpoints give clear errors', async () => {
  const w = Tensor.zeros(gpu, [17, 33]);
  const b = Tensor.zeros(gpu, [7]);
  const specs = [{ name: 'w', param: w }, { name: 'b', param: b }];
  expect(() => new AdamW(gpu, [])).toThrow(/at least one parameter/);
  expect(() => new AdamW(gpu, [specs[0], { name: 'w', param: b }])).toThrow(/appears twice/);
  const t = w.transpose();
  expect(() => new AdamW(gpu, [{ name: 'w', param: t }])).toThrow(/contiguous/);
  const bf = Tensor.zeros(gpu, [7], 'bf16');
  expect(() => new AdamW(gpu, [{ name: 'b', param: bf }])).toThrow(/must be f32/);
  expect(() => new AdamW(gpu, [{ name: 'b', param: b, lowPrecisionCopy: Tensor.zeros(gpu, [8], 'bf16') }])).toThrow(/shape \[8\]/);
  expect(() => new AdamW(gpu, specs, { beta2: 1 })).toThrow(/beta2/);
  expect(() => new AdamW(gpu, specs, { maxGradNorm: 0 })).toThrow(/maxGradNorm/);
  expect(() => new SGD(gpu, specs, { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
  expect(() => new DynamicLossScaler(gpu, { backoffFactor: 2 })).toThrow(/backoffFactor/);

  const opt = new AdamW(gpu, specs);
  const gw = Tensor.zeros(gpu, [17, 33]);
  const gb = Tensor.zeros(gpu, [7]);
  expect(() => opt.step([gw])).toThrow(/1 gradients for 2 parameters/);
  expect(() => opt.step(new Map([['w', gw]]))).toThrow(/no gradient for parameter 'b'/);
  expect(() => opt.step(new Map([['w', gw], ['b', gb], ['c', gb]]))).toThrow(/'c' matches no parameter/);
  expect(() => opt.step([gw, gw])).toThrow(ShapeError);
  expect(() => opt.step([gw, gb], -1)).toThrow(/learning rate/);
  expect(() => opt.loadState({ 'optim.control': opt.stateTensors()['optim.control'] }, 3)).toThrow(/'adamw\.m\.w' is missing/);
  const state = opt.stateTensors();
  expect(() => opt.loadState({ ...state, 'adamw.v.b': gw }, 3)).toThrow(/'adamw\.v\.b' is f32 \[17,33\]/);
  opt.loadState(state, 2); // its own state: nothing to copy
  expect(opt.stepCount).toBe(2);

  const relative = new AdaFactor(gpu, specs);
  expect(() => relative.step([gw, gb], 1e-3)).toThrow(/relative step sizes/);
  [opt, relative].forEach((o) => o.dispose());
  [w, b, t, bf, gw, gb].forEach((x) => x.dispose());
  await gpu.check();
});
