// Fused attention benchmark: forward and backward time and TFLOP/s at one shape (default GPT-2
// 124M: B=16, H=12, T=1024, D=64, causal), per dtype, with a per-kernel profile when the adapter
// has timestamp queries, each run checked against an f64 host reference on sampled rows.
//   node dist/bench.mjs attention -- [--json] [--shape B,H,T,D] [--dtypes f32,f16] [--mask causal|none]
//                                    [--sweep] [--torch] [--verify]
// FLOPs count the useful matrix products only (forward 4*B*H*T*T*D, halved (exactly: (T+1)/2T)
// under the causal mask; backward 2.5x forward, the convention FlashAttention and PyTorch
// figures use), so the dq pass's recomputation of scores shows up as lower backward TFLOP/s.
// --sweep times every candidate tiling that fits the adapter, one pass at a time (kernel times from
// the profile): the tensor-core tiles for f16 where the adapter has subgroup matrices, otherwise
// the tiled kernels' tilings.
// f16 runs on tensor cores where the adapter has subgroup matrices, and is then also timed on the
// tiled kernels for comparison (lines carry `kernel`). --verify first checks the tensor-core kernels
// against the tiled f32 kernels (themselves tested against f64) on awkward shapes and every mask
// kind, prints one line per case and exits with status 1 if any is off.
// --torch times torch.nn.functional.scaled_dot_product_attention (f32/f16 as asked) in a child
// python3 on the same shape and adds its figures to each line.
// Timing: one warm-up call, then enough calls recorded back to back for about 0.3 s, timed from
// the first recording until the queue reports done (every recorded dispatch runs; outputs go back
// to the pool and are reused in stream order); one more call's outputs are read back and checked.
import { spawnSync } from 'node:child_process';
import { Gpu } from '../src/gpu/device.js';
import { Tensor } from '../src/tensor/tensor.js';
import { InputError } from '../src/errors.js';
import { exactValues } from './values.js';
import { headViews } from '../src/nn/ops.js';
import {
  AttentionMask, type AttentionPass, type AttentionTiles, attentionForward, attentionBackward, attentionForwardTiled,
  attentionBackwardTiled, attentionMatrixCandidates, attentionMatrixTile, attentionTileCandidates,
} from '../src/nn/functional/attention.js';
import type { AttentionMatrixTile } from '../shaders/attention_subgroup_matrix.gen.js';

type Dtype = 'f32' | 'f16';
interface Args { json: boolean; shape: [number, number, number, number]; dtypes: Dtype[]; causal: boolean; sweep: boolean; torch: boolean; verify: boolean }

function parseArgs(argv: string[]): Args {
  const out: Args = { json: false, shape: [16, 12, 1024, 64], dtypes: ['f32', 'f16'], causal: true, sweep: false, torch: false, verify: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--json') out.json = true;
    else if (flag === '--sweep') out.sweep = true;
    else if (flag === '--torch') out.torch = true;
    else if (flag === '--verify') out.verify = true;
    else if (flag === '--shape') {
      const v = value().split(',').map(Number);
      if (v.length !== 4 || v.some((n) => !Number.isInteger(n) || n < 1)) throw new InputError(`--shape takes B,H,T,D (positive integers), got '${v}'`);
      out.shape = v as Args['shape'];
    } else if (flag === '--dtypes') {
      const v = value().split(',');
      if (!v.length || v.some((d) => d !== 'f32' && d !== 'f16')) throw new InputError(`--dtypes takes f32 and/or f16, got '${v}'`);
      out.dtypes = v as Dtype[];
    } else if (flag === '--mask') {
      const v = value();
      if (v !== 'causal' && v !== 'none') throw new InputError(`--mask takes causal or none, got '${v}'`);
      out.causal = v === 'causal';
    } else throw new InputError(`bench attention: unknown flag '${argv[i]}' (known: --json --shape --dtypes --mask --sweep --torch --verify)`);
  }
  return out;
}

interface Inputs { q: Float32Array; k: Float32Array; v: Float32Array; dO: Float32Array }

/** One timed configuration: tiled-kernel tilings or tensor-core tiles for some passes (defaults for the rest). */
interface Run {
  tiled?: Partial<Record<AttentionPass, AttentionTiles>>;
  matrix?: Partial<Record<AttentionPass, AttentionMatrixTile>>;
}

/**
 * Largest error over sampled rows (b, h, i) of o, lse and dq against f64, relative to the row's
 * largest reference magnitude.
 */
function sampledError(a: Args, x: Inputs, o: ArrayLike<number>, lse: ArrayLike<number>, dq: ArrayLike<number>): number {
  const [B, H, T, D] = a.shape;
  const scale = 1 / Math.sqrt(D);
  let worst = 0;
  for (let n = 0; n < 8; n++) {
    const b = (n * 7) % B, h = (n * 5) % H, i = Math.floor(((n + 0.5) / 8) * T);
    const head = (b * H + h) * T;
    const row = (head + i) * D;
    const keys = a.causal ? i + 1 : T;
    const s = new Float64Array(keys);
    for (let j = 0; j < keys; j++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += x.q[row + d] * x.k[(head + j) * D + d];
      s[j] = acc * scale;
    }
    const mx = Math.max(...s);
    let sum = 0;
    for (let j = 0; j < keys; j++) sum += Math.exp(s[j] - mx);
    const p = s.map((sj) => Math.exp(sj - mx) / sum);
    const oRef = new Float64Array(D), dqRef = new Float64Array(D);
    for (let j = 0; j < keys; j++) for (let d = 0; d < D; d++) oRef[d] += p[j] * x.v[(head + j) * D + d];
    let delta = 0;
    for (let d = 0; d < D; d++) delta += x.dO[row + d] * oRef[d];
    for (let j = 0; j < keys; j++) {
      let dp = 0;
      for (let d = 0; d < D; d++) dp += x.dO[row + d] * x.v[(head + j) * D + d];
      for (let d = 0; d < D; d++) dqRef[d] += scale * p[j] * (dp - delta) * x.k[(head + j) * D + d];
    }
    const rel = (got: ArrayLike<number>, at: number, ref: Float64Array) => {
      const mag = Math.max(...ref.map(Math.abs), 1e-6);
      return Math.max(...ref.map((r, d) => Math.abs(got[at + d] - r) / mag));
    };
    worst = Math.max(worst, rel(o, row, oRef), rel(dq, row, dqRef), Math.abs(lse[head + i] - (mx + Math.log(sum))) / Math.max(1, Math.abs(mx)));
  }
  return worst;
}

/**
 * Seconds per call of `record` (which records one call and releases its outputs at once: the pool
 * hands them to the next call in stream order, and every recorded dispatch runs), over about
 * 0.3 s of back-to-back calls.
 */
async function timePerCall(gpu: Gpu, record: () => void): Promise<number> {
  const timeReps = async (reps: number) => {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) record();
    await gpu.sync();
    return (performance.now() - t0) / 1000;
  };
  await timeReps(1);
  let reps = 1, seconds = await timeReps(1);
  while (seconds < 0.03 && reps < 256) seconds = await timeReps((reps = Math.min(256, reps * 4)));
  reps = Math.max(reps, Math.min(256, Math.ceil((reps * 0.3) / seconds)));
  return (await timeReps(reps)) / reps;
}

/** Mean nanoseconds per dispatch of each kernel over a few calls, or null without timestamps. */
async function profile(gpu: Gpu, record: () => void): Promise<Record<string, number> | null> {
  if (!gpu.caps.timestamps) return null;
  gpu.startProfile();
  for (let r = 0; r < 3; r++) record();
  const p = await gpu.stopProfile();
  return Object.fromEntries([...p.ns].map(([name, ns]) => [name, ns / p.count.get(name)!]));
}

interface TorchTimes { fwd_ms: number; bwd_ms: number }

function torchReference(a: Args): Map<Dtype, TorchTimes> | null {
  const [B, H, T, D] = a.shape;
  const script = `
import json, sys, time, torch
import torch.nn.functional as F
if not torch.cuda.is_available():
    sys.exit(3)
torch.backends.cuda.matmul.allow_tf32 = False
for name in ${JSON.stringify(a.dtypes)}:
    dt = {"f32": torch.float32, "f16": torch.float16}[name]
    q, k, v = (torch.randn(${B}, ${H}, ${T}, ${D}, device="cuda", dtype=dt, requires_grad=True) for _ in range(3))
    do = torch.randn_like(q)
    def fwd():
        return F.scaled_dot_product_attention(q, k, v, is_causal=${a.causal ? 'True' : 'False'})
    def timed(fn, reps=20):
        fn(); torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps): fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / reps * 1e3
    f_ms = timed(fwd)
    fb_ms = timed(lambda: torch.autograd.grad(fwd(), (q, k, v), do))
    print(json.dumps({"dtype": name, "fwd_ms": f_ms, "bwd_ms": fb_ms - f_ms}))
`;
  const r = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`bench attention: no PyTorch reference (${r.status === 3 ? 'no CUDA' : (r.stderr || 'python3 failed').trim().split('\n').pop()})`);
    return null;
  }
  const out = new Map<Dtype, TorchTimes>();
  for (const line of r.stdout.trim().split('\n')) {
    const j = JSON.parse(line) as TorchTimes & { dtype: Dtype };
    out.set(j.dtype, { fwd_ms: j.fwd_ms, bwd_ms: j.bwd_ms });
  }
  return out;
}


/**
 * gain multiplies q and k (large scores move the forward's running maxima); fused lays q, k, v
 * out as GPT's fused projection [B, T, 3, H, D] and writes o into merged heads [B, T, H, D] and
 * the gradients into one [B, T, 3, H, D] buffer, all as strided views; outShift starts those
 * output buffers that many elements in (2: rows off vec4 boundaries, written element by element).
 */
interface VerifyCase {
  name: string; b: number; h: number; tq: number; tk: number; d: number; mask: (gpu: Gpu) => AttentionMask;
  gain?: number; fused?: boolean; outShift?: number;
}

const VERIFY_CASES: VerifyCase[] = [
  { name: 'causal', b: 2, h: 3, tq: 77, tk: 77, d: 64, mask: () => AttentionMask.causal() },
  { name: 'bidirectional', b: 2, h: 2, tq: 130, tk: 130, d: 32, mask: () => AttentionMask.bidirectional() },
  { name: 'prefix+padding', b: 3, h: 2, tq: 95, tk: 95, d: 64, mask: (g) => AttentionMask.create(g, 3, { causal: true, prefixLen: [0, 40, 95], keyLen: [95, 70, 33] }) },
  { name: 'segments', b: 2, h: 2, tq: 100, tk: 100, d: 64, mask: (g) => AttentionMask.create(g, 2, { causal: true, segments: { q: Array.from({ length: 200 }, (_, i) => Math.floor((i % 100) / 30) + (i >= 100 ? 7 : 0)) } }) },
  { name: 'cross Tq!=Tk', b: 2, h: 2, tq: 37, tk: 150, d: 64, mask: (g) => AttentionMask.create(g, 2, { causal: false, keyLen: [150, 9] }) },
  { name: 'causal d128', b: 1, h: 2, tq: 70, tk: 70, d: 128, mask: () => AttentionMask.causal() },
  { name: 'causal d16', b: 1, h: 3, tq: 33, tk: 33, d: 16, mask: () => AttentionMask.causal() },
  { name: 'causal long', b: 1, h: 2, tq: 300, tk: 300, d: 64, mask: () => AttentionMask.causal() },
  { name: 'causal large scores', b: 1, h: 2, tq: 300, tk: 300, d: 64, mask: () => AttentionMask.causal(), gain: 4 },
  { name: 'fused qkv, strided outputs', b: 2, h: 3, tq: 77, tk: 77, d: 64, mask: () => AttentionMask.causal(), fused: true },
  { name: 'fused, outputs off vec4 boundaries', b: 2, h: 3, tq: 77, tk: 77, d: 64, mask: () => AttentionMask.causal(), fused: true, outShift: 2 },
];

/** q, k, v as views of a fused [B, T, 3, H, D] projection, and dO of merged heads [B, T, H, D]. */
function fusedInputs(gpu: Gpu, c: VerifyCase, host: Float32Array[], dtype: Dtype): Tensor[] {
  const { b: B, h: H, tq: T, d: D } = c;
  const qkv = new Float32Array(B * T * 3 * H * D), merged = new Float32Array(B * T * H * D);
  for (let bi = 0; bi < B; bi++) for (let hi = 0; hi < H; hi++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) {
    const src = ((bi * H + hi) * T + t) * D + d;
    for (let part = 0; part < 3; part++) qkv[(((bi * T + t) * 3 + part) * H + hi) * D + d] = host[part][src];
    merged[((bi * T + t) * H + hi) * D + d] = host[3][src];
  }
  const qkvT = Tensor.from(gpu, qkv, [B * T, 3 * H * D], dtype), dOT = Tensor.from(gpu, merged, [B * T, H * D], dtype);
  const views = [...headViews(qkvT, [B, T, 3, H, D]), ...headViews(dOT, [B, T, 1, H, D])];
  [qkvT, dOT].forEach((t) => t.dispose());
  return views;
}

/** o as a view of merged heads [B, T, H, D], and dq, dk, dv as views of one [B, T, 3, H, D] buffer. */
function fusedOutputs(gpu: Gpu, c: VerifyCase, dtype: Dtype) {
  const { b: B, h: H, tq: T, d: D } = c;
  const shift = c.outShift ?? 0;
  const shifted = (rows: number, cols: number) => {
    const flat = Tensor.empty(gpu, [shift + rows * cols], dtype);
    const view = flat.slice(0, shift, shift + rows * cols), matrix = view.reshape([rows, cols]);
    [flat, view].forEach((t) => t.dispose());
    return matrix;
  };
  const merged = shifted(B * T, H * D), fused = shifted(B * T, 3 * H * D);
  const [o] = headViews(merged, [B, T, 1, H, D]);
  const [dq, dk, dv] = headViews(fused, [B, T, 3, H, D]);
  [merged, fused].forEach((t) => t.dispose());
  return { o, grads: { dq, dk, dv }, dispose: () => [o, dq, dk, dv].forEach((t) => t.dispose()) };
}

/** Largest |a - ref| relative to the largest |ref| (lse: entries equal or both -inf). */
function relErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 1e-3;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] === a[i]) continue;
    num = Math.max(num, Number.isFinite(ref[i]) ? Math.abs(a[i] - ref[i]) : Infinity);
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}

/**
 * The tensor-core kernels (f16) against the tiled kernels in f32 on the same f16-exact inputs; the
 * backward passes are given the f32 forward's o (rounded to f16) and lse.
 */
async function verifyTensorCores(gpu: Gpu, json: boolean): Promise<boolean> {
  const tolerance = 1e-2;
  if (!gpu.caps.f16) {
    console.error('bench attention --verify: this adapter has no shader-f16, so no tensor-core attention to verify');
    return false;
  }
  let allOk = true;
  for (const c of VERIFY_CASES) {
    const mask = c.mask(gpu);
    const qn = c.b * c.h * c.tq * c.d, kn = c.b * c.h * c.tk * c.d;
    const gain = (x: Float32Array) => x.map((y) => y * (c.gain ?? 1));
    const host = [gain(exactValues(qn, 11)), gain(exactValues(kn, 12)), exactValues(kn, 13), exactValues(qn, 14)];
    const shapes = [[c.b, c.h, c.tq, c.d], [c.b, c.h, c.tk, c.d], [c.b, c.h, c.tk, c.d], [c.b, c.h, c.tq, c.d]];
    // The backward pass is given the reference forward's o and lse, so that each pass is checked on its own.
    let refForward: ArrayLike<number>[] = [];
    const run = async (dtype: Dtype) => {
      const [q, k, v, dO] = c.fused ? fusedInputs(gpu, c, host, dtype) : host.map((x, i) => Tensor.from(gpu, x, shapes[i], dtype));
      const outputs = c.fused ? fusedOutputs(gpu, c, dtype) : null;
      const f = attentionForward(q, k, v, mask, undefined, outputs ? { out: outputs.o } : {});
      const [o, lse] = await Promise.all([f.o.toArray(), f.lse.toArray()]);
      if (dtype === 'f32') refForward = [o, lse];
      const savedO = Tensor.from(gpu, Float32Array.from(refForward[0]), shapes[0], dtype);
      const savedLse = Tensor.from(gpu, Float32Array.from(refForward[1]), [c.b, c.h, c.tq], 'f32');
      const g = attentionBackward(dO, q, k, v, savedO, savedLse, mask, undefined, outputs ? { grads: outputs.grads } : {});
      const out = [o, lse, ...await Promise.all([g.dq, g.dk, g.dv].map((t) => t.toArray()))];
      [q, k, v, dO, f.o, f.lse, savedO, savedLse, g.dq, g.dk, g.dv].forEach((t) => t.dispose());
      outputs?.dispose();
      return out;
    };
    const probe = Tensor.from(gpu, host[0], shapes[0], 'f16');
    const onTensorCores = attentionMatrixTile(gpu, 'forward', 'f16', c.d, [probe]) !== null;
    probe.dispose();
    const ref = await run('f32');
    const got = await run('f16');
    const names = ['o', 'lse', 'dq', 'dk', 'dv'];
    const errs = Object.fromEntries(names.map((n, i) => [n, relErr(got[i], ref[i])]));
    const ok = onTensorCores && Object.values(errs).every((e) => e <= tolerance);
    allOk &&= ok;
    const line = { bench: 'attention_verify', case: c.name, shape: [c.b, c.h, c.tq, c.tk, c.d], tensor_cores: onTensorCores, max_rel_err: errs, tolerance, ok };
    if (json) console.log(JSON.stringify(line));
    else console.log(`verify ${c.name} [${line.shape}] ${onTensorCores ? 'tensor cores' : 'NOT on tensor cores'}: ` +
      `${names.map((n) => `${n} ${errs[n].toExponential(2)}`).join(', ')} ${ok ? 'ok' : 'FAILED'}`);
    mask.dispose();
  }
  return allOk;
}

export async function run(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const torch = a.torch ? torchReference(a) : null;
  const gpu = await Gpu.create();
  const [B, H, T, D] = a.shape;
  console.error(`adapter: ${gpu.caps.adapter.vendor} ${gpu.caps.adapter.architecture}; shape B=${B} H=${H} T=${T} D=${D}; mask ${a.causal ? 'causal' : 'none'}`);
  const fwdFlops = 4 * B * H * T * T * D * (a.causal ? (T + 1) / (2 * T) : 1);
  const n = B * H * T * D;
  const host: Inputs = { q: exactValues(n, 1), k: exactValues(n, 2), v: exactValues(n, 3), dO: exactValues(n, 4) };
  const mask = a.causal ? AttentionMask.causal() : AttentionMask.bidirectional();
  if (a.verify && !(await verifyTensorCores(gpu, a.json))) {
    console.error('bench attention: tensor-core kernels disagree with the tiled ones (or did not run); see the lines above');
    process.exitCode = 1;
  }

  for (const dtype of a.dtypes) {
    if (dtype === 'f16' && !gpu.caps.f16) { console.error('bench attention: f16 skipped (no shader-f16)'); continue; }
    const [q, k, v, dO] = [host.q, host.k, host.v, host.dO].map((x) => Tensor.from(gpu, x, [B, H, T, D], dtype));
    const tensorCores = attentionMatrixTile(gpu, 'forward', dtype, D, [q, k, v]) !== null;
    const first = (pass: AttentionPass) => attentionTileCandidates(gpu, pass, D)[0];
    // Sweeps vary one pass at a time over its tensor-core tiles (f16 where the adapter has them)
    // or its tiled tilings; the other passes keep their defaults.
    const passes: AttentionPass[] = ['forward', 'dkdv', 'dq'];
    const runs: Run[] = !a.sweep
      ? (tensorCores ? [{}, { tiled: { forward: first('forward'), dkdv: first('dkdv'), dq: first('dq') } }] : [{}])
      : tensorCores
        ? passes.flatMap((pass) => attentionMatrixCandidates(gpu, pass, dtype, D, [q, k, v, dO]).map((t): Run => ({ matrix: { [pass]: t } })))
        : passes.flatMap((pass) => attentionTileCandidates(gpu, pass, D).map((t): Run => ({ tiled: { [pass]: t } })));
    for (const run of runs) {
      const tiles = run.tiled ?? run.matrix ?? {};
      try {
        const fwd = () => {
          const r = attentionForwardTiled(q, k, v, mask, undefined, run.tiled?.forward, { matrixTile: run.matrix?.forward });
          r.o.dispose(); r.lse.dispose();
        };
        const saved = attentionForwardTiled(q, k, v, mask, undefined, run.tiled?.forward, { matrixTile: run.matrix?.forward });
        const bwdTiles = run.tiled?.dkdv || run.tiled?.dq ? { dkdv: run.tiled.dkdv ?? first('dkdv'), dq: run.tiled.dq ?? first('dq') } : undefined;
        const backward = () => attentionBackwardTiled(dO, q, k, v, saved.o, saved.lse, mask, undefined, bwdTiles, { matrixTiles: run.matrix });
        const bwd = () => {
          const g = backward();
          g.dq.dispose(); g.dk.dispose(); g.dv.dispose();
        };
        const fwdS = await timePerCall(gpu, fwd);
        const bwdS = await timePerCall(gpu, bwd);
        const kernels = await profile(gpu, () => { fwd(); bwd(); });
        const g = backward();
        const err = sampledError(a, host, await saved.o.toArray(), await saved.lse.toArray(), await g.dq.toArray());
        [saved.o, saved.lse, g.dq, g.dk, g.dv].forEach((t) => t.dispose());
        const t = torch?.get(dtype);
        const line = {
          bench: 'attention', dtype, shape: a.shape, mask: a.causal ? 'causal' : 'none',
          kernel: tensorCores && !run.tiled ? 'subgroup-matrix' : 'tiled', tiles,
          fwd_ms: fwdS * 1e3, bwd_ms: bwdS * 1e3, fwd_tflops: fwdFlops / fwdS / 1e12, bwd_tflops: (2.5 * fwdFlops) / bwdS / 1e12,
          kernel_ms: kernels && Object.fromEntries(Object.entries(kernels).map(([name, ns]) => [name, ns / 1e6])),
          max_rel_err: err,
          ...(t ? { torch_fwd_ms: t.fwd_ms, torch_bwd_ms: t.bwd_ms, ratio_fwd: t.fwd_ms / (fwdS * 1e3), ratio_bwd: t.bwd_ms / (bwdS * 1e3) } : {}),
        };
        if (a.json) console.log(JSON.stringify(line));
        else {
          console.log(`${dtype} ${line.kernel} ${JSON.stringify(tiles)} fwd ${line.fwd_ms.toFixed(3)} ms (${line.fwd_tflops.toFixed(1)} TFLOP/s) ` +
            `bwd ${line.bwd_ms.toFixed(3)} ms (${line.bwd_tflops.toFixed(1)} TFLOP/s) max_rel_err ${err.toExponential(2)}` +
            (t ? ` | torch fwd ${t.fwd_ms.toFixed(3)} ms bwd ${t.bwd_ms.toFixed(3)} ms` : '') +
            (line.kernel_ms ? `\n  kernels (ms): ${Object.entries(line.kernel_ms).map(([k2, ms]) => `${k2} ${ms.toFixed(3)}`).join(', ')}` : ''));
        }
      } catch (e) {
        console.error(`bench attention: ${dtype} ${JSON.stringify(tiles)} failed: ${(e as Error).message}`);
      }
    }
    [q, k, v, dO].forEach((x) => x.dispose());
  }
  gpu.destroy();
}
