// GEMM benchmark: TFLOP/s of every kernel variant the adapter offers, per input dtype and
// square size, each checked against an f64 reference on 64 sampled outputs.
//   node dist/bench.mjs gemm -- [--json] [--sizes 256,512,...] [--torch] [--sweep] [--verify]
//                               [--variants tiled,subgroup-matrix] [--dtypes f32,f16,bf16]
//   webtrain bench gemm --json
// Set WEBTRAIN_UNSAFE_FAST=1 to run with Dawn's robustness transform off (kernels guard their edges).
//
// Timing: products run back to back for 0.2 s first (from idle the H100 reads up to 3x slow),
// then three batches of R products (about 0.1 s each) are recorded into the same output and
// submitted together, each timed from submission until the GPU reports the queue done; the median
// batch counts. Every recorded dispatch executes (webtrain records eagerly, nothing is elided),
// and the output of the last one is read back and checked. max_rel_err = max |got - ref| / max(|ref|, rms(ref))
// over the samples, where ref is computed in f64 on the host from the same inputs (values
// k/64, exact in f16, bf16 and f32).
// dtype is the input storage: f32 and f16 products are stored in their input dtype, bf16 ones
// (bf16 is a weight format here) in f32.
// --torch runs PyTorch's matmul (f32 with TF32 off, f16, bf16) on the same sizes in a child
// python3 first and adds torch_tflops and ratio (ours / torch) to each line.
// --sweep times candidate tiles of each variant (4096 unless --sizes) and prints them with a
// "tile" key; --verify checks odd shapes, transposes and the fused epilogue of each variant.
// --shapes MxNxK[:TT],... (T or N for op(A), op(B); e.g. GPT-2's 16384x768x3072:NT) times f16
// products of those shapes on tensor cores, the default tile against the other candidate tiles,
// by GPU timestamps (median of 3 rounds of 10 products, rounds interleaved across tiles; before
// each round the product runs back to back for 0.2 s, so the GPU is at its working clock: short
// products timed from idle read up to 3x slow on the H100).
import { spawnSync } from 'node:child_process';
import { Gpu } from '../src/gpu/device.js';
import { Tensor } from '../src/tensor/tensor.js';
import { matmul, availableVariants, defaultSubgroupMatrixTile, type GemmVariant, type TiledTile } from '../src/tensor/matmul.js';
import { type SubgroupMatrixTile, tileName, tileProblem, tileWorkgroupBytes } from '../shaders/gemm_subgroup_matrix.gen.js';
import type { DType } from '../src/tensor/dtype.js';
import { InputError } from '../src/errors.js';
import { exactValues } from './values.js';

const DEFAULT_SIZES = [256, 512, 1024, 2048, 4096, 8192];
const DTYPES: DType[] = ['f32', 'f16', 'bf16'];

interface Shape { m: number; n: number; k: number; transA: boolean; transB: boolean }

interface Args {
  json: boolean; sizes: number[] | null; torch: boolean; sweep: boolean; verify: boolean;
  variants: string[] | null; dtypes: string[] | null; shapes: Shape[] | null;
}

function parseShape(text: string): Shape {
  const m = /^(\d+)x(\d+)x(\d+)(?::([NT])([NT]))?$/.exec(text);
  if (!m) throw new InputError(`--shapes takes MxNxK[:TT] items such as 16384x768x3072:NT, got '${text}'`);
  return { m: +m[1], n: +m[2], k: +m[3], transA: m[4] === 'T', transB: m[5] === 'T' };
}

function parseArgs(args: string[]): Args {
  const out: Args = { json: false, sizes: null, torch: false, sweep: false, verify: false, variants: null, dtypes: null, shapes: null };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split('=', 2);
    if (flag === '--json') out.json = true;
    else if (flag === '--torch') out.torch = true;
    else if (flag === '--sweep') out.sweep = true;
    else if (flag === '--verify') out.verify = true;
    else if (flag === '--sizes') {
      const v = inline ?? args[++i];
      out.sizes = (v ?? '').split(',').map(Number);
      if (!out.sizes.length || out.sizes.some((n) => !Number.isInteger(n) || n < 1)) {
        throw new InputError(`--sizes takes a comma-separated list of positive integers, got '${v}'`);
      }
    } else if (flag === '--shapes') {
      out.shapes = (inline ?? args[++i] ?? '').split(',').filter(Boolean).map(parseShape);
    } else if (flag === '--variants' || flag === '--dtypes') {
      const v = (inline ?? args[++i] ?? '').split(',').filter(Boolean);
      if (flag === '--variants') out.variants = v;
      else out.dtypes = v;
    } else {
      throw new InputError(`bench gemm: unknown flag '${args[i]}' (known: --json --sizes --torch --sweep --verify --variants --dtypes --shapes)`);
    }
  }
  return out;
}

interface Measured { tflops: number; maxRelErr: number }

async function measure(gpu: Gpu, variant: GemmVariant, dtype: DType, n: number, tile?: TiledTile | SubgroupMatrixTile): Promise<Measured> {
  const av = exactValues(n * n, 1 + n), bv = exactValues(n * n, 2 + n);
  const a = Tensor.from(gpu, av, [n, n], dtype), b = Tensor.from(gpu, bv, [n, n], dtype);
  // bf16 is a weight storage format: its products come out in f32.
  const outDtype = dtype === 'bf16' ? 'f32' : dtype;
  const c = Tensor.empty(gpu, [n, n], outDtype);
  const opts = { c, variant, tile, outDtype } as const;
  try {
    matmul(a, b, opts);
    await gpu.sync();
    const timeReps = async (reps: number) => {
      for (let r = 0; r < reps; r++) matmul(a, b, opts);
      const t0 = performance.now();
      await gpu.sync();
      return (performance.now() - t0) / 1000;
    };
    // Grow the batch until submission overhead is negligible and the GPU has worked for 0.2 s,
    // then take the median of three batches of about 0.1 s.
    const warm = performance.now();
    let reps = 1, seconds = await timeReps(1);
    while ((seconds < 0.03 || performance.now() - warm < 200) && reps < 4000) {
      seconds = await timeReps((reps = Math.min(4000, seconds < 0.03 ? reps * 8 : reps)));
    }
    reps = Math.max(1, Math.min(4000, Math.ceil((reps * 0.1) / seconds)));
    const batches = [await timeReps(reps), await timeReps(reps), await timeReps(reps)].sort((x, y) => x - y);
    seconds = batches[1] / reps;
    const got = await c.toArray();
    return { tflops: (2 * n ** 3) / seconds / 1e12, maxRelErr: sampledError(got, av, bv, n, n, n) };
  } finally {
    [a, b, c].forEach((t) => t.dispose());
  }
}

/** Relative error on 64 sampled outputs of C = A * B (row-major, no transposes). */
function sampledError(got: ArrayLike<number>, av: Float32Array, bv: Float32Array, m: number, n: number, k: number): number {
  const samples: { got: number; ref: number }[] = [];
  let s = 12345;
  for (let t = 0; t < 64; t++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % m;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % n;
    let ref = 0;
    for (let q = 0; q < k; q++) ref += av[i * k + q] * bv[q * n + j];
    samples.push({ got: got[i * n + j], ref });
  }
  const rms = Math.sqrt(samples.reduce((acc, x) => acc + x.ref * x.ref, 0) / samples.length) || 1;
  return Math.max(...samples.map((x) => Math.abs(x.got - x.ref) / Math.max(Math.abs(x.ref), rms)));
}

/** PyTorch's matmul TFLOP/s per dtype and size, or null when torch or CUDA is missing. */
function torchReference(sizes: number[]): Map<string, number> | null {
  const script = `
import json, sys, time, torch
if not torch.cuda.is_available():
    sys.exit(3)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
for name, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
    for n in ${JSON.stringify(sizes)}:
        a = torch.randn(n, n, device="cuda", dtype=dt)
        b = torch.randn(n, n, device="cuda", dtype=dt)
        c = a @ b
        torch.cuda.synchronize()
        t0 = time.perf_counter(); torch.matmul(a, b, out=c); torch.cuda.synchronize()
        reps = max(3, min(2000, int(0.3 / (time.perf_counter() - t0)) + 1))
        start = torch.cuda.Event(enable_timing=True); end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        end.record(); torch.cuda.synchronize()
        sec = start.elapsed_time(end) / 1000 / reps
        print(json.dumps({"dtype": name, "n": n, "tflops": 2 * n ** 3 / sec / 1e12}), flush=True)
`;
  const r = spawnSync('python3', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.error(`bench gemm: no PyTorch reference (python3 -c "import torch" with CUDA failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    return null;
  }
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const x = JSON.parse(line) as { dtype: string; n: number; tflops: number };
    out.set(`${x.dtype}:${x.n}`, x.tflops);
  }
  return out;
}

const round = (x: number, digits: number) => Number(x.toPrecision(digits));

interface Row { variant: string; dtype: DType; n: number; tile?: string; m: Measured; torch?: number }

function printRow(r: Row, json: boolean): void {
  if (json) {
    const line: Record<string, unknown> = {
      op: 'gemm', variant: r.variant, dtype: r.dtype, m: r.n, n: r.n, k: r.n,
      tflops: round(r.m.tflops, 4), max_rel_err: round(r.m.maxRelErr, 3),
    };
    if (r.tile) line.tile = r.tile;
    if (r.torch !== undefined) Object.assign(line, { torch_tflops: round(r.torch, 4), ratio: round(r.m.tflops / r.torch, 3) });
    console.log(JSON.stringify(line));
  } else {
    const torch = r.torch === undefined ? '' : `${r.torch.toFixed(1).padStart(9)} ${(r.m.tflops / r.torch).toFixed(2).padStart(6)}`;
    console.log(`${(r.variant + (r.tile ? ` ${r.tile}` : '')).padEnd(18)} ${r.dtype.padEnd(5)} ${String(r.n).padStart(6)} ` +
      `${r.m.tflops.toPrecision(4).padStart(9)} ${r.m.maxRelErr.toExponential(1).padStart(9)} ${torch}`);
  }
}

function sweepTiles(gpu: Gpu, variant: GemmVariant): (TiledTile | SubgroupMatrixTile)[] {
  if (variant === 'tiled') {
    return [
      { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 }, { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 },
      { bm: 64, bn: 128, bk: 8, tm: 4, tn: 8 }, { bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 },
      { bm: 128, bn: 64, bk: 8, tm: 8, tn: 4 }, { bm: 256, bn: 128, bk: 8, tm: 16, tn: 8 },
    ].filter((t) => 2 * t.bk * (t.bm + t.bn) * 4 <= gpu.caps.limits.maxComputeWorkgroupStorageSize);
  }
  const base = defaultSubgroupMatrixTile(gpu)!;
  const shapes: Partial<SubgroupMatrixTile>[] = [
    { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 2, stages: 2 }, { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 4, stages: 2 },
    { bm: 128, bn: 256, bk: 32, sgM: 2, sgN: 4, stages: 1 }, { bm: 256, bn: 128, bk: 32, sgM: 4, sgN: 2, stages: 1 },
    { bm: 128, bn: 128, bk: 16, sgM: 2, sgN: 2, stages: 2 }, { bm: 128, bn: 256, bk: 16, sgM: 2, sgN: 4, stages: 2 },
    { bm: 256, bn: 128, bk: 16, sgM: 4, sgN: 2, stages: 2 }, { bm: 64, bn: 128, bk: 32, sgM: 2, sgN: 2, stages: 2 },
    { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 2, stages: 2, pad: 0 }, { bm: 256, bn: 256, bk: 16, sgM: 4, sgN: 4, stages: 1 },
    { bm: 256, bn: 128, bk: 16, sgM: 4, sgN: 2, stages: 1 },
  ];
  return shapes.map((s) => ({ ...base, ...s }))
    .filter((t) => !tileProblem(t) && tileWorkgroupBytes(t) <= gpu.caps.limits.maxComputeWorkgroupStorageSize);
}

function tileLabel(t: TiledTile | SubgroupMatrixTile): string {
  return 'sgM' in t ? tileName(t) : `${t.bm}x${t.bn}x${t.bk}_t${t.tm}x${t.tn}`;
}

/** Odd shapes, transposes and the epilogue, against a full f64 reference. */
async function verify(gpu: Gpu, variant: GemmVariant, dtype: DType, json: boolean): Promise<void> {
  // Contiguous dimensions multiples of 8 (the tensor-core kernel's loads), M and N ragged; the last
  // case's N (transposed B, so N is not contiguous) is not a multiple of 8, for the tensor-core
  // epilogue's one-element-at-a-time path.
  const [m, n0, k] = variant === 'subgroup-matrix' ? [264, 200, 328] : [131, 97, 75];
  const cases = [[false, false, false, n0], [true, false, false, n0], [false, true, true, n0], [true, true, true, n0], [false, true, true, n0 + 4]] as const;
  for (const [transA, transB, epilogue, n] of cases) {
    const av = exactValues(m * k, 7), bv = exactValues(k * n, 8), biasV = exactValues(n, 9), resV = exactValues(m * n, 10);
    const a = Tensor.from(gpu, av, transA ? [k, m] : [m, k], dtype), b = Tensor.from(gpu, bv, transB ? [n, k] : [k, n], dtype);
    const outDtype = dtype === 'bf16' ? 'f32' : dtype;
    const bias = Tensor.from(gpu, biasV, [n], outDtype), residual = Tensor.from(gpu, resV, [m, n], outDtype);
    const c = matmul(a, b, { transA, transB, variant, outDtype, ...(epilogue ? { bias, residual, activation: 'gelu' as const } : {}) });
    const got = await c.toArray();
    let worst = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += av[transA ? q * m + i : i * k + q] * bv[transB ? j * k + q : q * n + j];
        if (epilogue) {
          const x = s + biasV[j];
          s = 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))) + resV[i * n + j];
        }
        worst = Math.max(worst, Math.abs(got[i * n + j] - s) / Math.max(Math.abs(s), 1));
      }
    }
    const line = { op: 'gemm-verify', variant, dtype, m, n, k, transA, transB, epilogue, max_rel_err: round(worst, 3) };
    console.log(json ? JSON.stringify(line) : `verify ${variant} ${dtype} ${m}x${n}x${k} transA=${transA} transB=${transB} epilogue=${epilogue}: max_rel_err ${worst.toExponential(2)}`);
    [a, b, bias, residual, c].forEach((t) => t.dispose());
  }
}

const SHAPE_TILES: Partial<SubgroupMatrixTile>[] = [
  { bm: 128, bn: 256, bk: 32, sgM: 2, sgN: 4, stages: 1 }, { bm: 256, bn: 128, bk: 32, sgM: 4, sgN: 2, stages: 1 },
  { bm: 128, bn: 256, bk: 16, sgM: 2, sgN: 4, stages: 2 }, { bm: 256, bn: 128, bk: 16, sgM: 4, sgN: 2, stages: 2 },
  { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 2, stages: 2 }, { bm: 64, bn: 128, bk: 32, sgM: 2, sgN: 2, stages: 2 },
  // Half the accumulators per subgroup (64x32 or 32x64) and twice the subgroups.
  { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 4, stages: 2 }, { bm: 128, bn: 128, bk: 32, sgM: 4, sgN: 2, stages: 2 },
  { bm: 128, bn: 256, bk: 32, sgM: 4, sgN: 4, stages: 1 }, { bm: 128, bn: 256, bk: 32, sgM: 2, sgN: 8, stages: 1 },
  { bm: 256, bn: 128, bk: 32, sgM: 4, sgN: 4, stages: 1 },
];

/** Tensor-core f16 products of the given shapes, the default tile against the candidates, by GPU timestamps. */
async function timeShapes(gpu: Gpu, shapes: Shape[], json: boolean): Promise<void> {
  if (!gpu.caps.timestamps || !defaultSubgroupMatrixTile(gpu)) {
    console.error('bench gemm --shapes needs timestamp queries and f16 subgroup matrices');
    return;
  }
  const base = defaultSubgroupMatrixTile(gpu)!;
  const tiles = [undefined, ...SHAPE_TILES.map((t) => ({ ...base, ...t }))
    .filter((t) => !tileProblem(t) && tileWorkgroupBytes(t) <= gpu.caps.limits.maxComputeWorkgroupStorageSize)];
  for (const sh of shapes) {
    const a = Tensor.from(gpu, exactValues(sh.m * sh.k, 1), sh.transA ? [sh.k, sh.m] : [sh.m, sh.k], 'f16');
    const b = Tensor.from(gpu, exactValues(sh.k * sh.n, 2), sh.transB ? [sh.n, sh.k] : [sh.k, sh.n], 'f16');
    const c = Tensor.empty(gpu, [sh.m, sh.n], 'f16');
    const product = (tile?: SubgroupMatrixTile) => matmul(a, b, { c, transA: sh.transA, transB: sh.transB, variant: 'subgroup-matrix', tile });
    const rounds = new Map<SubgroupMatrixTile | undefined, number[]>(tiles.map((t) => [t, []]));
    for (let round = 0; round < 3; round++) {
      for (const tile of tiles) {
        try {
          const warm = performance.now();
          do {
            for (let r = 0; r < 10; r++) product(tile);
            await gpu.sync();
          } while (performance.now() - warm < 200);
          gpu.startProfile();
          for (let r = 0; r < 10; r++) product(tile);
          const p = await gpu.stopProfile();
          rounds.get(tile)!.push([...p.ns.values()].reduce((x, y) => x + y, 0) / 10);
        } catch (e) {
          if (round === 0) console.error(`bench gemm: ${JSON.stringify(sh)} ${tile ? tileName(tile) : 'default'} failed: ${(e as Error).message}`);
        }
      }
    }
    for (const [tile, ns] of rounds) {
      if (!ns.length) continue;
      const median = ns.sort((x, y) => x - y)[Math.floor(ns.length / 2)];
      const line = {
        op: 'gemm_shape', m: sh.m, n: sh.n, k: sh.k, layout: `${sh.transA ? 'T' : 'N'}${sh.transB ? 'T' : 'N'}`,
        tile: tile ? tileName(tile) : 'default', us: +(median / 1e3).toFixed(1), tflops: +((2 * sh.m * sh.n * sh.k) / median / 1e3).toFixed(1),
      };
      console.log(json ? JSON.stringify(line) : `${sh.m}x${sh.n}x${sh.k} ${line.layout} ${line.tile.padEnd(40)} ${line.us} us ${line.tflops} TFLOP/s`);
    }
    [a, b, c].forEach((t) => t.dispose());
  }
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.shapes) {
    const gpu = await Gpu.create();
    await timeShapes(gpu, args.shapes, args.json);
    gpu.destroy();
    return;
  }
  const sizes = args.sizes ?? (args.sweep ? [4096] : DEFAULT_SIZES);
  const torch = args.torch ? torchReference(sizes) : null;
  const gpu = await Gpu.create();
  const caps = gpu.caps;
  const robust = process.env.WEBTRAIN_UNSAFE_FAST === '1' ? 'off' : 'on';
  console.error(`adapter: ${caps.adapter.vendor} ${caps.adapter.architecture} ${caps.adapter.device}; robustness ${robust}; ` +
    `subgroups ${caps.subgroupMinSize}..${caps.subgroupMaxSize}; subgroup matrices ${JSON.stringify(caps.subgroupMatrix)}`);
  if (!args.json) console.log(`${'variant'.padEnd(18)} dtype ${'size'.padStart(6)} ${'TFLOP/s'.padStart(9)} ${'max_rel'.padStart(9)}${torch ? '     torch  ratio' : ''}`);
  for (const dtype of DTYPES.filter((d) => !args.dtypes || args.dtypes.includes(d))) {
    for (const variant of availableVariants(gpu, dtype).filter((v) => !args.variants || args.variants.includes(v))) {
      if (args.verify) {
        await verify(gpu, variant, dtype, args.json).catch((e: Error) => console.error(`bench gemm: verify ${variant} ${dtype} failed: ${e.message}`));
      }
      // Sweeps tune the two kernels with speed targets: f32 tiled and f16 on tensor cores.
      if (args.sweep && !(variant === 'subgroup-matrix' || dtype === 'f32')) continue;
      const tiles = args.sweep ? sweepTiles(gpu, variant) : [undefined];
      for (const tile of tiles) {
        for (const n of sizes) {
          try {
            const m = await measure(gpu, variant, dtype, n, tile);
            printRow({ variant, dtype, n, tile: tile && tileLabel(tile), m, torch: torch?.get(`${dtype}:${n}`) }, args.json);
          } catch (e) {
            // One failing case (a tile the driver rejects) must not hide the others.
            console.error(`bench gemm: ${variant} ${dtype} ${n}${tile ? ` ${tileLabel(tile)}` : ''} failed: ${(e as Error).message}`);
          }
        }
      }
    }
  }
  gpu.destroy();
}
