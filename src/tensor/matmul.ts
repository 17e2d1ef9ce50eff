// Matrix multiplication with a fused epilogue:
//   out = act(alpha * op(A) * op(B) + beta * C + bias) + residual
// batched over leading dimensions, on the fastest kernel the adapter offers: tensor cores
// through subgroup matrices for f16 inputs where present and worth it, otherwise a tiled,
// register-blocked kernel for f32, f16 and bf16 storage (arithmetic always f32).
import gemmWgsl from '../../shaders/gemm.wgsl';
import {
  type SubgroupMatrixTile, subgroupMatrixSource, tileConsts, tileName, tileProblem, tileWorkgroupBytes,
} from '../../shaders/gemm_subgroup_matrix.gen.js';
import { type Gpu, type Kernel, type Param, f32 } from '../gpu/device.js';
import type { Spec } from '../gpu/specialise.js';
import { ShapeError } from '../errors.js';
import type { DType } from './dtype.js';
import { cast, broadcastShape, reduce } from './ops.js';
import { Tensor, numel } from './tensor.js';

export type GemmVariant = 'tiled' | 'subgroup-matrix';

/** Tile of the tiled kernel: workgroup tile bm x bn, K step bk, per-thread block tm x tn. */
export interface TiledTile {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

export interface MatmulOptions {
  /** Use A's transpose: A is [..., K, M]. */
  transA?: boolean;
  /** Use B's transpose: B is [..., N, K]. */
  transB?: boolean;
  alpha?: number;
  /** Weight of `c`'s previous content (needs `c`). */
  beta?: number;
  /** Output tensor [..., M, N] written in place (and read, with beta); it is returned. */
  c?: Tensor;
  /** [N], added to every row. */
  bias?: Tensor;
  activation?: 'gelu';
  /** [..., M, N] or [M, N] (shared across the batch), added after the activation. */
  residual?: Tensor;
  /** Output dtype; default A's dtype. */
  outDtype?: DType;
  /**
   * op(A) is zero above its diagonal (A[i][k] = 0 for k > i), as a causal mask leaves attention's
   * dS: each tile of rows stops at the column after its last row, which skips half of a square
   * product's work, and reads no entry past that column (those need not hold anything).
   */
  lowerTriangularA?: boolean;
  /** Forces a kernel (tests, benchmarks); by default it is chosen from caps and shape. */
  variant?: GemmVariant;
  /** Forces a tile for the forced variant (benchmark sweeps). */
  tile?: TiledTile | SubgroupMatrixTile;
}

// Tiles measured on an H100 at 4096^3 (bench gemm --sweep, robustness off): 128x128x8 40 TFLOP/s,
// 128x128x16 25, 64x128x16 35-37, 64x64x16 29; smaller ones keep more workgroups busy on small products.
const TILED_LARGE: TiledTile = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
const TILED_MEDIUM: TiledTile = { bm: 64, bn: 128, bk: 16, tm: 4, tn: 8 };
const TILED_SMALL: TiledTile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
// Tensor-core tiles: on an H100 (robustness off), 256x128x32 single-stage with 4x2 subgroups of
// 64x64 outputs each. It needs all 255 registers of an invocation (SASS in NVIDIA's shader cache),
// so one workgroup of 8 subgroups fills a multiprocessor; that cost little once the staging loads
// stopped stalling each step (see gemm_subgroup_matrix.wgsl). `bench gemm --shapes`, one run, on
// GPT-2's products: 179-227 TFLOP/s against 147-223 for 128x256x32 with 2x8 subgroups of 64x32
// (the default before, 128 registers, 16 subgroups per multiprocessor), 4096^3 233 against 230; on
// GPT-2's LM head (16384x50304x768, B transposed) 195 against 179 for 256x128 with 4x4 subgroups,
// which had been chosen for such very wide products.
// 128x128x32 double-buffered with 2x4 subgroups keeps more workgroups busy on smaller products.
// The 2x8 tile and 2x2 subgroups are the fallbacks for adapters with other workgroup limits.
// Sweeps vary between processes: compare tiles within one run.
type TileShape = Omit<SubgroupMatrixTile, 'sub' | 'frag'>;
const SUBGROUP_MATRIX_LARGE: TileShape[] = [
  { bm: 256, bn: 128, bk: 32, sgM: 4, sgN: 2, pad: 8, stages: 1 }, { bm: 128, bn: 256, bk: 32, sgM: 2, sgN: 8, pad: 8, stages: 1 },
];
const SUBGROUP_MATRIX_SMALL: TileShape[] = [
  { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 4, pad: 8, stages: 2 }, { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 2, pad: 8, stages: 2 },
];

const GEMM: Kernel = { name: 'gemm', source: gemmWgsl };
const subgroupMatrixKernels = new Map<string, Kernel>();
const placeholders = new WeakMap<Gpu, Tensor>();

/** How a 2-D operand sits in memory: row-major with leading dimension `ld`, or transposed. */
interface Layout {
  /** The stored matrix is the transpose of the view (column-major view). */
  flipped: boolean;
  ld: number;
  batchStride: number;
}

const FLOAT_DTYPES: DType[] = ['f32', 'f16', 'bf16'];

/**
 * The operand's memory layout when its view can be read in place: one of the last two
 * dimensions has stride 1 and the batch dimensions collapse into one stride.
 */
function layoutOf(t: Tensor): Layout | null {
  const r = t.rank;
  const [rows, cols] = [t.shape[r - 2], t.shape[r - 1]];
  const [sr, sc] = [t.strides[r - 2], t.strides[r - 1]];
  let flipped: boolean, ld: number;
  if ((cols <= 1 || sc === 1) && (rows <= 1 || sr >= cols)) [flipped, ld] = [false, rows <= 1 ? Math.max(cols, 1) : sr];
  else if ((rows <= 1 || sr === 1) && (cols <= 1 || sc >= rows)) [flipped, ld] = [true, cols <= 1 ? Math.max(rows, 1) : sc];
  else return null;
  // Batch dimensions must be one arithmetic progression of matrices.
  let batchStride = 0, span = 0;
  for (let d = r - 3; d >= 0; d--) {
    if (t.shape[d] === 1) continue;
    if (span === 0) { batchStride = t.strides[d]; span = t.shape[d]; continue; }
    if (t.strides[d] !== batchStride * span) return null;
    span *= t.shape[d];
  }
  return { flipped, ld, batchStride };
}

function readable(t: Tensor): { t: Tensor; layout: Layout; copied: boolean } {
  const layout = layoutOf(t);
  if (layout) return { t, layout, copied: false };
  const c = cast(t, t.dtype);
  return { t: c, layout: layoutOf(c)!, copied: true };
}

function checkFloat(t: Tensor, what: string, allowed = FLOAT_DTYPES): void {
  if (!(t instanceof Tensor)) throw new ShapeError(`${what} must be a Tensor`);
  if (!allowed.includes(t.dtype)) throw new ShapeError(`${what} has dtype ${t.dtype}; matmul takes ${allowed.join(', ')}`);
}

/** The f16 -> f32 subgroup-matrix config the tensor-core kernel uses, if the adapter has one. */
export function tensorCoreConfig(gpu: Gpu): { m: number; n: number; k: number } | null {
  const caps = gpu.caps;
  if (!caps.f16 || caps.subgroupMinSize !== caps.subgroupMaxSize || !caps.subgroupMinSize) return null;
  const ok = caps.subgroupMatrix.filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');
  const best = ok.find((c) => c.M === 16 && c.N === 16 && c.K === 16) ?? ok[0];
  return best ? { m: best.M, n: best.N, k: best.K } : null;
}

/** The default tensor-core tile for this adapter (and product shape), or null without tensor cores. */
export function defaultSubgroupMatrixTile(gpu: Gpu, shape?: { m: number; n: number; batch: number }): SubgroupMatrixTile | null {
  const frag = tensorCoreConfig(gpu);
  if (!frag) return null;
  const workgroups = (t: TileShape) => (shape ? Math.ceil(shape.m / t.bm) * Math.ceil(shape.n / t.bn) * shape.batch : 0);
  const shapes = workgroups(SUBGROUP_MATRIX_LARGE[0]) >= 120 ? [...SUBGROUP_MATRIX_LARGE, ...SUBGROUP_MATRIX_SMALL] : SUBGROUP_MATRIX_SMALL;
  return shapes.map((t): SubgroupMatrixTile => ({ ...t, sub: gpu.caps.subgroupMinSize, frag }))
    .find((t) => tileProblem(t) === null && fitsAdapter(gpu, t)) ?? null;
}

function fitsAdapter(gpu: Gpu, tile: SubgroupMatrixTile): boolean {
  const l = gpu.caps.limits;
  return tileWorkgroupBytes(tile) <= l.maxComputeWorkgroupStorageSize &&
    tile.sgM * tile.sgN * tile.sub <= l.maxComputeInvocationsPerWorkgroup;
}

/** Variants this adapter can run for an input dtype (what the benchmark iterates over). */
export function availableVariants(gpu: Gpu, dtype: DType): GemmVariant[] {
  if (dtype === 'f16' && !gpu.caps.f16) return [];
  const v: GemmVariant[] = ['tiled'];
  if (dtype === 'f16' && defaultSubgroupMatrixTile(gpu)) v.push('subgroup-matrix');
  return v;
}

function placeholder(gpu: Gpu): Tensor {
  let t = placeholders.get(gpu);
  if (!t) placeholders.set(gpu, (t = Tensor.zeros(gpu, [4], 'f32')));
  return t;
}

function storageAlias(dtype: DType): string {
  return dtype === 'f16' ? 'f16' : 'f32';
}

/**
 * C = alpha * op(A) * op(B) + beta * C (+ bias, GELU, + residual).
 * A is [..., M, K] ([..., K, M] with transA), B is [..., K, N] ([..., N, K] with transB) or a
 * single matrix shared by the whole batch (so is A when it is 2-D). Views with strides are
 * read in place where one of their last two dimensions is contiguous. Returns a new tensor
 * [..., M, N], or `opts.c`.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  checkFloat(a, 'A');
  checkFloat(b, 'B');
  if (a.gpu !== b.gpu) throw new ShapeError('A and B live on different GPUs');
  const gpu = a.gpu;
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(`matmul needs matrices (rank >= 2), got A [${a.shape}] and B [${b.shape}]`);
  const [M, K] = opts.transA ? [a.shape[a.rank - 1], a.shape[a.rank - 2]] : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [Kb, N] = opts.transB ? [b.shape[b.rank - 1], b.shape[b.rank - 2]] : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  if (K !== Kb) {
    throw new ShapeError(`matmul: op(A) is ${M}x${K} but op(B) is ${Kb}x${N}; the inner dimensions must agree ` +
      `(A [${a.shape}]${opts.transA ? ' transposed' : ''}, B [${b.shape}]${opts.transB ? ' transposed' : ''})`);
  }
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batchShape = broadcastShape(batchA, batchB);
  const batch = numel(batchShape);
  for (const [name, shape] of [['A', batchA], ['B', batchB]] as const) {
    if (numel(shape) !== 1 && numel(shape) !== batch) {
      throw new ShapeError(`matmul: ${name}'s batch dimensions [${shape}] must be all of [${batchShape}] or none ` +
        '(partial broadcasting is not supported; expand the operand first)');
    }
  }
  const outShape = [...batchShape, M, N];
  const outDtype = opts.c?.dtype ?? opts.outDtype ?? a.dtype;
  if (!FLOAT_DTYPES.includes(outDtype)) throw new ShapeError(`matmul output dtype must be f32, f16 or bf16, got ${outDtype}`);
  if (opts.outDtype && opts.c && opts.outDtype !== opts.c.dtype) {
    throw new ShapeError(`outDtype ${opts.outDtype} differs from c's dtype ${opts.c.dtype}`);
  }
  const beta = opts.beta ?? 0;
  if (beta !== 0 && !opts.c) throw new ShapeError('matmul: beta needs the accumulator tensor `c`');
  if (opts.c) {
    checkFloat(opts.c, 'c');
    const c = opts.c;
    if (c.shape.length !== outShape.length || c.shape.some((d, i) => d !== outShape[i])) {
      throw new ShapeError(`matmul: c has shape [${c.shape}], expected [${outShape}]`);
    }
    if (c.buffer === a.buffer || c.buffer === b.buffer) throw new ShapeError('matmul: c must not share storage with A or B');
  }
  if (opts.bias) {
    checkFloat(opts.bias, 'bias', ['f32', 'f16']);
    if (opts.bias.rank !== 1 || opts.bias.shape[0] !== N) throw new ShapeError(`matmul: bias has shape [${opts.bias.shape}], expected [${N}]`);
  }
  if (opts.residual) {
    const r = opts.residual;
    checkFloat(r, 'residual');
    const ok = r.rank >= 2 && r.shape[r.rank - 2] === M && r.shape[r.rank - 1] === N &&
      (r.rank === 2 || (r.shape.length === outShape.length && r.shape.every((d, i) => d === outShape[i])));
    if (!ok) throw new ShapeError(`matmul: residual has shape [${r.shape}], expected [${outShape}] or [${M}, ${N}]`);
  }
  if (opts.activation !== undefined && opts.activation !== 'gelu') {
    throw new ShapeError(`matmul: unknown activation '${opts.activation}'; supported: gelu`);
  }
  if (outDtype === 'bf16' || opts.c?.dtype === 'bf16' || opts.residual?.dtype === 'bf16') return viaF32(a, b, opts, outDtype);
  const splits = opts.variant || opts.tile ? 1 : splitKFactor(a, b, M, N, K, batch, opts);
  if (splits > 1) return splitK(a, b, opts, splits, outDtype);
  if (opts.residual && opts.residual.dtype !== outDtype) {
    throw new ShapeError(`matmul: residual has dtype ${opts.residual.dtype}, expected the output's ${outDtype}`);
  }

  const res = opts.residual;
  const resLayout = res ? layoutOf(res) : null;
  if (res && (!resLayout || resLayout.flipped)) throw new ShapeError('matmul: the residual must have a contiguous last dimension');
  const outLayout = opts.c ? layoutOf(opts.c) : { flipped: false, ld: N, batchStride: M * N };
  if (!outLayout || outLayout.flipped) {
    throw new ShapeError('matmul: c must have a contiguous last dimension (a row-major view); make it contiguous first');
  }

  const A = readable(a), B = readable(b);
  try {
    const transA = !!opts.transA !== A.layout.flipped;
    const transB = !!opts.transB !== B.layout.flipped;
    const problem: Problem = {
      m: M, n: N, k: K, batch, transA, transB,
      a: A.t, b: B.t, la: { ...A.layout, batchStride: numel(batchA) === 1 ? 0 : A.layout.batchStride },
      lb: { ...B.layout, batchStride: numel(batchB) === 1 ? 0 : B.layout.batchStride },
    };
    const variant = opts.variant ?? chooseVariant(gpu, problem);
    const epilogue: Spec = {
      alias: { TC: storageAlias(outDtype), TBIAS: storageAlias(opts.bias?.dtype ?? 'f32') },
      flags: [
        ...(beta !== 0 ? ['BETA'] : []), ...(opts.bias ? ['BIAS'] : []), ...(opts.activation === 'gelu' ? ['GELU'] : []),
        ...(res ? ['RESIDUAL'] : []), ...(transA ? ['TRANS_A'] : []), ...(transB ? ['TRANS_B'] : []),
      ],
    };
    // (offset, leading dim, batch stride) of C, the residual and the bias, for the vectorised epilogues.
    const epilogueLayouts = [[opts.c?.offset ?? 0, outLayout.ld, outLayout.batchStride],
      ...(res ? [[res.offset, resLayout!.ld, res.rank > 2 ? resLayout!.batchStride : 0]] : []), [opts.bias?.offset ?? 0, 0, 0]];
    let kernel: Kernel, spec: Spec, tile: { bm: number; bn: number; bk: number };
    if (variant === 'subgroup-matrix') {
      const t = (opts.tile as SubgroupMatrixTile | undefined) ?? defaultSubgroupMatrixTile(gpu, problem);
      const why = !t ? 'this adapter has no f16 subgroup-matrix support' : subgroupMatrixProblem(gpu, problem, t);
      if (why) throw new ShapeError(`matmul: the subgroup-matrix kernel cannot run this product: ${why}`);
      [kernel, tile] = [subgroupMatrixKernel(t!), t!];
      // Each invocation owns a run of adjacent outputs of one fragment row.
      const run = (t!.frag.m * t!.frag.n) / t!.sub;
      const vecEpilogue = t!.frag.n % run === 0 && vectorEpilogue(run, N, epilogueLayouts);
      spec = {
        ...epilogue, enable: ['f16', 'chromium_experimental_subgroup_matrix'], const: tileConsts(t!),
        flags: [...epilogue.flags!, ...(vecEpilogue ? ['VEC_EPI'] : [])],
      };
    } else {
      const t = (opts.tile as TiledTile | undefined) ?? chooseTiledTile(gpu, problem);
      checkTiledTile(t);
      const vecA = vectorisable(problem.la, A.t.offset, transA ? M : K, 4);
      const vecB = vectorisable(problem.lb, B.t.offset, transB ? K : N, 4);
      [kernel, tile] = [GEMM, t];
      spec = {
        enable: [a.dtype, b.dtype, outDtype, opts.bias?.dtype].includes('f16') ? ['f16'] : [],
        alias: { ...epilogue.alias, TA: storageAlias(a.dtype), TB: storageAlias(b.dtype) },
        const: { BM: t.bm, BN: t.bn, BK: t.bk, TM: t.tm, TN: t.tn },
        flags: [
          ...epilogue.flags!, ...(vecA ? ['VEC_A'] : []), ...(vecB ? ['VEC_B'] : []),
          // Only where bias or residual are read: see VEC_EPI in shaders/gemm.wgsl.
          ...((opts.bias || res) && vectorEpilogue(4, N, epilogueLayouts) ? ['VEC_EPI'] : []),
          ...(a.dtype === 'bf16' ? ['A_BF16'] : []), ...(b.dtype === 'bf16' ? ['B_BF16'] : []),
        ],
      };
    }

    // A tile that stops at its last row must end on a step of its K loop (see k_end in the kernels).
    if (opts.lowerTriangularA && tile.bm % tile.bk) {
      throw new ShapeError(`matmul: lowerTriangularA needs a tile whose bm is a multiple of its bk, got ${JSON.stringify(tile)}`);
    }
    const out = opts.c ?? Tensor.empty(gpu, outShape, outDtype);
    const params: Param[] = [
      M, N, K, opts.lowerTriangularA ? 1 : 0,
      problem.la.ld, problem.lb.ld, outLayout.ld, resLayout?.ld ?? 0,
      A.t.offset, B.t.offset, out.offset, res?.offset ?? 0,
      problem.la.batchStride, problem.lb.batchStride, outLayout.batchStride, res && res.rank > 2 ? resLayout!.batchStride : 0,
      f32(opts.alpha ?? 1), f32(beta), opts.bias?.offset ?? 0, 0,
    ];
    const buffers = [A.t.buffer, B.t.buffer, out.buffer, opts.bias?.buffer ?? placeholder(gpu).buffer, res?.buffer ?? placeholder(gpu).buffer];
    // Profiles list each product shape on its own: M x N x K (x batch), A and B normal or transposed.
    const shape = `${M}x${N}x${K}${batch > 1 ? `x${batch}` : ''} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
    if (M * N * batch > 0) gpu.dispatch(kernel, spec, buffers, params, [Math.ceil(N / tile.bn), Math.ceil(M / tile.bm), batch], `${kernel.name} ${shape}`);
    return out;
  } finally {
    // Copies are only read by work already recorded, which the pool orders before any reuse.
    if (A.copied) A.t.dispose();
    if (B.copied) B.t.dispose();
  }
}

/**
 * How many slices of K to compute in parallel for a plain 2-D product with few outputs and a
 * long K (weight gradients such as 768x768 or 768x3072 summed over B*T = 16k rows): a single
 * product would give too few workgroups, each walking all of K. As many slices as keep 1024 rows
 * each and f32 partials within 128 MiB (WebGPU's default largest binding): on an H100, GPT-2's
 * 768x3072 gradients in 2 slices made 144 workgroups for 132 multiprocessors, a second wave
 * almost empty (100 TFLOP/s); in 8, 146 TFLOP/s, the f16 training step 156.5 -> 148.9 ms.
 */
function splitKFactor(a: Tensor, b: Tensor, M: number, N: number, K: number, batch: number, o: MatmulOptions): number {
  const plain = batch === 1 && a.rank === 2 && b.rank === 2 && !o.c && !o.beta && !o.bias && !o.activation && !o.residual && !o.lowerTriangularA &&
    a.isContiguous && b.isContiguous;
  if (!plain || M * N >= 1 << 22 || K < 8192 || K < 4 * Math.max(M, N)) return 1;
  return [16, 8, 4, 2].find((s) => K % s === 0 && K / s >= 1024 && M * N * s <= 1 << 25) ?? 1;
}

/** op(A) op(B) as the sum over `s` slices of K: one batched product into f32 partials, then a column sum. */
function splitK(a: Tensor, b: Tensor, o: MatmulOptions, s: number, outDtype: DType): Tensor {
  // Batched views [s, ., .] of the K slices, read in place.
  const slices = (t: Tensor, kFirst: boolean): Tensor => {
    const [r, c] = t.shape;
    if (kFirst) return t.reshape([s, r / s, c]);
    const v = t.reshape([r, s, c / s]);
    const p = v.permute([1, 0, 2]);
    v.dispose();
    return p;
  };
  const av = slices(a, !!o.transA), bv = slices(b, !o.transB);
  const partials = matmul(av, bv, { transA: o.transA, transB: o.transB, alpha: o.alpha, outDtype: 'f32' });
  [av, bv].forEach((t) => t.dispose());
  // bf16 outputs never get here (see viaF32); the column sum stores f32 or f16 directly.
  const sum = reduce('sum', partials, 0, false, outDtype);
  partials.dispose();
  return sum;
}

interface Problem {
  m: number; n: number; k: number; batch: number; transA: boolean; transB: boolean;
  a: Tensor; b: Tensor; la: Layout; lb: Layout;
}

/** Whether an operand can be read `width` elements at a time along its contiguous dimension. */
function vectorisable(l: Layout, offset: number, contiguousDim: number, width: number): boolean {
  return contiguousDim % width === 0 && l.ld % width === 0 && offset % width === 0 && l.batchStride % width === 0;
}

function subgroupMatrixProblem(gpu: Gpu, p: Problem, tile: SubgroupMatrixTile): string | null {
  if (p.a.dtype !== 'f16' || p.b.dtype !== 'f16') return `it takes f16 inputs, got ${p.a.dtype} and ${p.b.dtype}`;
  const tp = tileProblem(tile);
  if (tp) return tp;
  if (!fitsAdapter(gpu, tile)) return `tile ${tileName(tile)} exceeds the adapter's workgroup limits`;
  if (!vectorisable(p.la, p.a.offset, p.transA ? p.m : p.k, 8) || !vectorisable(p.lb, p.b.offset, p.transB ? p.k : p.n, 8)) {
    return 'the contiguous dimensions, leading dimensions and offsets of A and B must be multiples of 8';
  }
  return null;
}

function chooseVariant(gpu: Gpu, p: Problem): GemmVariant {
  const tile = defaultSubgroupMatrixTile(gpu, p);
  // Below about a million outputs the tiled kernel was as fast or faster on an H100.
  const big = p.m * p.n * p.batch >= 1 << 20 && p.m >= 64 && p.n >= 64 && p.k >= 64;
  return tile && big && !subgroupMatrixProblem(gpu, p, tile) ? 'subgroup-matrix' : 'tiled';
}

function chooseTiledTile(gpu: Gpu, p: Problem): TiledTile {
  // The largest tile that still gives about one workgroup per multiprocessor (132 on an H100).
  const workgroups = (t: TiledTile) => Math.ceil(p.m / t.bm) * Math.ceil(p.n / t.bn) * p.batch;
  const fits = (t: TiledTile) => tiledWorkgroupBytes(t) <= gpu.caps.limits.maxComputeWorkgroupStorageSize;
  return [TILED_LARGE, TILED_MEDIUM].find((t) => fits(t) && workgroups(t) >= 120) ?? TILED_SMALL;
}

export function tiledWorkgroupBytes(t: TiledTile): number {
  return 2 * t.bk * (t.bm + t.bn) * 4;
}

function checkTiledTile(t: TiledTile): void {
  const threads = (t.bm / t.tm) * (t.bn / t.tn);
  const ok = t.tm % 4 === 0 && t.tn % 4 === 0 && Number.isInteger(threads) &&
    (t.bm * t.bk) % (4 * threads) === 0 && (t.bn * t.bk) % (4 * threads) === 0;
  if (!ok) throw new ShapeError(`matmul: tiled tile ${JSON.stringify(t)} does not divide into its ${threads} threads`);
}

/**
 * Whether an epilogue may move C, bias and residual four at a time (flag VEC_EPI) when each
 * invocation owns `run` adjacent outputs of a row: the run is a whole number of vec4s and lies
 * wholly inside or outside N, and every (offset, leading dim, batch stride) of those operands is
 * a multiple of 4.
 */
function vectorEpilogue(run: number, n: number, layouts: number[][]): boolean {
  return Number.isInteger(run) && run % 4 === 0 && n % run === 0 && layouts.every((l) => l.every((v) => v % 4 === 0));
}

function subgroupMatrixKernel(tile: SubgroupMatrixTile): Kernel {
  const name = `gemm_subgroup_matrix_${tileName(tile)}`;
  let k = subgroupMatrixKernels.get(name);
  if (!k) subgroupMatrixKernels.set(name, (k = { name, source: subgroupMatrixSource(tile) }));
  return k;
}

/**
 * bf16 outputs, accumulators or residuals: compute in f32, then round to bf16 (a packed bf16
 * word holds two outputs, which one thread of the GEMM cannot always own).
 */
function viaF32(a: Tensor, b: Tensor, opts: MatmulOptions, outDtype: DType): Tensor {
  const temps: Tensor[] = [];
  const asF32 = (t: Tensor | undefined) => {
    if (!t || t.dtype === 'f32') return t;
    const f = cast(t, 'f32');
    temps.push(f);
    return f;
  };
  const c = opts.c;
  if (c && c.dtype !== 'f32' && (!c.isContiguous || c.offset % 2 || c.size % 2)) {
    throw new ShapeError('matmul: a 16-bit c computed through f32 must be contiguous, with even offset and size');
  }
  const c32 = c?.dtype === 'f32' ? c : (opts.beta ?? 0) !== 0 ? asF32(c) : undefined;
  const y = matmul(a, b, { ...opts, c: c32, residual: asF32(opts.residual), outDtype: 'f32' });
  let result = y;
  if (outDtype !== 'f32') {
    const rounded = cast(y, outDtype);
    if (c) {
      // Into c's own storage: same dtype and element count, 4-byte aligned (checked above).
      c.gpu.copy(rounded.buffer, 0, c.buffer, c.offset * 2, rounded.size * 2);
      rounded.dispose();
      result = c;
    } else {
      result = rounded;
    }
    if (y !== c32) y.dispose();
  }
  temps.forEach((t) => t.dispose());
  return result;
}
