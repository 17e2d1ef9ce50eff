// Fused (flash-style) attention, forward and backward, with one compact mask description for
// every objective. Kernels: shaders/attention_{common,forward,delta,dkdv,dq}.wgsl.
import commonWgsl from '../../../shaders/attention_common.wgsl';
import forwardWgsl from '../../../shaders/attention_forward.wgsl';
import deltaWgsl from '../../../shaders/attention_delta.wgsl';
import dkdvWgsl from '../../../shaders/attention_dkdv.wgsl';
import dqWgsl from '../../../shaders/attention_dq.wgsl';
import {
  type AttentionMatrixTile, type AttentionPass, attentionMatrixSource, attentionTileConsts, attentionTileName,
  attentionTileProblem, attentionWorkgroupBytes,
} from '../../../shaders/attention_subgroup_matrix.gen.js';
import { type Gpu, type Kernel, type Param, f32, i32 } from '../../gpu/device.js';
import type { Spec } from '../../gpu/specialise.js';
import { grid1d } from '../../gpu/grid.js';
import { ShapeError } from '../../errors.js';
import { contiguous, copyInto, floatSpec, mergeSpecs, narrow, viaF32 } from '../../tensor/ops.js';
import { matmul, tensorCoreConfig } from '../../tensor/matmul.js';
import { Tensor } from '../../tensor/tensor.js';

const FORWARD: Kernel = { name: 'attention_forward', source: commonWgsl + forwardWgsl };
const DELTA: Kernel = { name: 'attention_delta', source: deltaWgsl };
const DKDV: Kernel = { name: 'attention_dkdv', source: commonWgsl + dkdvWgsl };
const DQ: Kernel = { name: 'attention_dq', source: commonWgsl + dqWgsl };

export const MAX_HEAD_DIM = 128;
const DELTA_ROWS_PER_WG = 16; // shaders/attention_delta.wgsl

/** A per-batch-row (or per-position) u32 array, on the host or already on the GPU (u32/i32, contiguous). */
export type MaskValues = ArrayLike<number> | Tensor;

/**
 * Which keys each query may attend. Query i of batch row b may attend key j iff
 *   j < keyLen[b]  &&  (!causal || j <= i + causalOffset || j < prefixLen[b])  &&  segQ[b,i] == segK[b,j].
 * How the objectives map onto it:
 * - causal LM: `{ causal: true }`;  bidirectional (encoder, MLM): `{ causal: false }`;
 * - prefix LM: `{ causal: true, prefixLen }` (the prefix attends within itself bidirectionally);
 * - GLM blank infilling: the same, with prefixLen = length of part A (part B is causal and sees all of A);
 * - padding: `keyLen` (with or without causal);
 * - encoder-decoder cross-attention: `{ causal: false, keyLen }` with Tq != Tk;
 * - packed sequences: `segments` (ids per position), usually with causal.
 */
export interface AttentionMaskOptions {
  causal: boolean;
  /** Query i sits at key position i + causalOffset; default Tk - Tq (the queries are the last Tq positions). */
  causalOffset?: number;
  /** [B]: keys below prefixLen[b] are visible to every query of row b. Only meaningful with causal. */
  prefixLen?: MaskValues;
  /** [B]: keys at or past keyLen[b] are padding, visible to no query. Default: all Tk keys. */
  keyLen?: MaskValues;
  /** Segment ids, q [B, Tq] and k [B, Tk] (flattened; k defaults to q for self-attention). */
  segments?: { q: MaskValues; k?: MaskValues };
}

/**
 * A mask ready for the kernels. Masks with per-row data hold a small u32 tensor
 * (prefix_len [B], key_len [B], then segment ids; see shaders/attention_common.wgsl):
 * build one per batch, share it between all layers' forward and backward, then dispose() it.
 */
export class AttentionMask {
  private constructor(
    readonly causal: boolean,
    readonly causalOffset: number | undefined,
    /** Batch size the per-row data is for (null: none, any batch). */
    readonly batch: number | null,
    /** Query and key lengths the segment ids are for (null: no segments). */
    readonly segmentLengths: { tq: number; tk: number } | null,
    private words: Tensor | null,
  ) {}

  static causal(causalOffset?: number): AttentionMask {
    return new AttentionMask(true, checkOffset(causalOffset), null, null, null);
  }

  static bidirectional(): AttentionMask {
    return new AttentionMask(false, undefined, null, null, null);
  }

  /** A mask with per-row lengths and/or segment ids for a batch of `batch` rows (uploaded once). */
  static create(gpu: Gpu, batch: number, opts: AttentionMaskOptions): AttentionMask {
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`attention mask batch must be a positive integer, got ${batch}`);
    const offset = checkOffset(opts.causalOffset);
    if (opts.causalOffset !== undefined && !opts.causal) throw new ShapeError('causalOffset needs causal: true');
    if (opts.prefixLen !== undefined && !opts.causal) {
      throw new ShapeError('prefixLen only changes a causal mask (without causal every key is visible); set causal: true');
    }
    if (opts.prefixLen === undefined && opts.keyLen === undefined && !opts.segments) {
      return new AttentionMask(opts.causal, offset, null, null, null);
    }
    const segQ = opts.segments?.q;
    const segK = opts.segments?.k ?? segQ;
    const tq = segQ === undefined ? 0 : valueCount(segQ) / batch;
    const tk = segK === undefined ? 0 : valueCount(segK) / batch;
    if (!Number.isInteger(tq) || !Number.isInteger(tk)) {
      throw new ShapeError(`segment ids must hold batch x length values (batch ${batch}), got ${valueCount(segQ!)} and ${valueCount(segK!)}`);
    }
    const parts: [MaskValues | undefined, number, string, number][] = [
      [opts.prefixLen, batch, 'prefixLen', 0],
      [opts.keyLen, batch, 'keyLen', 0xffffffff], // the kernels clamp key_len to Tk
      [segQ, batch * tq, 'segments.q', 0],
      [segK, batch * tk, 'segments.k', 0],
    ];
    const host = new Uint32Array(2 * batch + batch * (tq + tk));
    const onGpu: [Tensor, number][] = [];
    let at = 0;
    for (const [values, count, name, fill] of parts) {
      if (values === undefined) {
        host.fill(fill, at, at + count);
      } else if (values instanceof Tensor) {
        if ((values.dtype !== 'u32' && values.dtype !== 'i32') || !values.isContiguous || values.size !== count) {
          throw new ShapeError(`mask ${name} must be a contiguous u32 tensor of ${count} values, got ${values.dtype} [${values.shape}]`);
        }
        onGpu.push([values, at]);
      } else {
        if (values.length !== count) throw new ShapeError(`mask ${name} must hold ${count} values, got ${values.length}`);
        for (let i = 0; i < count; i++) {
          const x = values[i];
          if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new ShapeError(`mask ${name}[${i}] = ${x} is not a non-negative integer`);
          host[at + i] = x;
        }
      }
      at += count;
    }
    const words = Tensor.from(gpu, host, [host.length], 'u32');
    for (const [t, wordAt] of onGpu) gpu.copy(t.buffer, t.offset * 4, words.buffer, wordAt * 4, t.size * 4);
    return new AttentionMask(opts.causal, offset, batch, segQ === undefined ? null : { tq, tk }, words);
  }

  /** The kernels' mask_bits (see attention_common.wgsl), and the buffer to bind as mask_words (any buffer when unused). */
  binding(fallback: GPUBuffer): { bits: number; buffer: GPUBuffer } {
    const bits = (this.causal ? 1 : 0) | (this.words ? 2 : 0) | (this.segmentLengths ? 4 : 0);
    return { bits, buffer: this.words?.buffer ?? fallback };
  }

  dispose(): void {
    this.words?.dispose();
  }
}

function checkOffset(offset: number | undefined): number | undefined {
  if (offset !== undefined && (!Number.isInteger(offset) || Math.abs(offset) > 2 ** 30)) {
    throw new ShapeError(`causalOffset must be an integer, got ${offset}`);
  }
  return offset;
}

function valueCount(v: MaskValues): number {
  return v instanceof Tensor ? v.size : v.length;
}

// ---- tiles --------------------------------------------------------------------------------

/** A workgroup's tiling: RG x NX threads, RG*TM rows owned, tiles of N streamed rows (a multiple of NX and of 4). */
export interface AttentionTiles { rg: number; tm: number; nx: number; n: number }

/** Preferred first; the first whose workgroup memory fits the adapter is used. */
const CANDIDATES: AttentionTiles[] = [
  { rg: 16, tm: 4, nx: 8, n: 32 },
  { rg: 8, tm: 4, nx: 8, n: 32 },
  { rg: 8, tm: 4, nx: 8, n: 16 },
  { rg: 8, tm: 2, nx: 4, n: 16 },
  { rg: 8, tm: 2, nx: 8, n: 8 },
  { rg: 4, tm: 2, nx: 4, n: 8 },
  { rg: 16, tm: 2, nx: 8, n: 8 },
  { rg: 16, tm: 1, nx: 8, n: 8 },
  { rg: 8, tm: 1, nx: 8, n: 8 },
  { rg: 4, tm: 4, nx: 8, n: 8 },
  { rg: 8, tm: 2, nx: 16, n: 16 },
  { rg: 16, tm: 2, nx: 16, n: 16 },
  { rg: 32, tm: 1, nx: 8, n: 8 },
];

export type { AttentionPass };

/**
 * The backward passes hold twice the tiles; smaller ones keep more workgroups resident.
 * Measured on the H100 (B=16, H=12, T=1024, D=64, f16, causal; `bench attention --sweep`, two
 * passes agreeing): 8x2 rows with 16 threads across and 16-wide streamed tiles ran dK/dV in
 * 4.3 ms (8x4 rows, 32-wide: 5.6) and dQ in 3.4-3.7 ms (5.4).
 */
function preferFirst(t: AttentionTiles): AttentionTiles[] {
  const same = (c: AttentionTiles) => c.rg === t.rg && c.tm === t.tm && c.nx === t.nx && c.n === t.n;
  return [t, ...CANDIDATES.filter((c) => !same(c))];
}

const PREFERRED: Record<AttentionPass, AttentionTiles[]> = {
  forward: CANDIDATES,
  dkdv: preferFirst({ rg: 8, tm: 2, nx: 16, n: 16 }),
  dq: preferFirst({ rg: 8, tm: 2, nx: 16, n: 16 }),
};

/** Workgroup memory bytes of one pass's tiles (mirrors the var<workgroup> declarations; tiles are f32). */
function sharedBytes(pass: AttentionPass, t: AttentionTiles, headDim: number): number {
  const vec4 = 16;
  const d4 = Math.ceil(headDim / 4);
  const own = t.rg * t.tm;
  switch (pass) {
    case 'forward': return own * d4 * vec4 + t.n * (d4 + 1) * vec4 + own * (t.n / 4 + 1) * vec4 + own * (t.nx + 1) * 4;
    case 'dkdv': return 2 * own * d4 * vec4 + 2 * t.n * (d4 + 1) * vec4 + 2 * own * (t.n / 4 + 1) * vec4 + t.n * 8;
    case 'dq': return 2 * own * d4 * vec4 + 2 * t.n * (d4 + 1) * vec4 + own * (t.n / 4 + 1) * vec4;
  }
}

/** The tilings of a pass that fit the adapter for this head dim, preferred first (benchmarks sweep them). */
export function attentionTileCandidates(gpu: Gpu, pass: AttentionPass, headDim: number): AttentionTiles[] {
  const limit = gpu.caps.limits;
  return PREFERRED[pass].filter((t) => sharedBytes(pass, t, headDim) <= limit.maxComputeWorkgroupStorageSize &&
    t.rg * t.nx <= limit.maxComputeInvocationsPerWorkgroup);
}

function chooseTiles(gpu: Gpu, pass: AttentionPass, headDim: number): AttentionTiles {
  const fit = attentionTileCandidates(gpu, pass, headDim)[0];
  if (!fit) {
    throw new ShapeError(`attention with head dim ${headDim} needs more workgroup memory than this adapter's ` +
      `${gpu.caps.limits.maxComputeWorkgroupStorageSize} bytes`);
  }
  return fit;
}

function checkTiles(gpu: Gpu, pass: AttentionPass, t: AttentionTiles, headDim: number): void {
  const ok = [t.rg, t.tm, t.nx, t.n].every((x) => Number.isInteger(x) && x > 0) && t.n % t.nx === 0 && t.n % 4 === 0 &&
    t.rg * t.nx <= gpu.caps.limits.maxComputeInvocationsPerWorkgroup &&
    sharedBytes(pass, t, headDim) <= gpu.caps.limits.maxComputeWorkgroupStorageSize;
  if (!ok) throw new ShapeError(`attention tiles ${JSON.stringify(t)} do not fit ${pass} with head dim ${headDim} on this adapter`);
}

// ---- tensor cores ---------------------------------------------------------------------------

/**
 * Preferred first (H100, GPT-2 shapes, `bench attention --sweep`, two passes agreeing: forward 4
 * subgroups x 32 streamed keys 1.11 ms against 1.16 with 64; dQ 2 x 16 keys 1.31-1.33 ms against
 * 1.42-1.46 with 4 x 32; dK/dV 4 x 32 queries best at 1.57-1.64 ms), then the rest that may fit.
 * Interleaved lanes (see column() in the template), in one sweep: dK/dV 1.42 against 1.51 ms,
 * forward 1.25 against 1.05, dQ 1.29 either way.
 */
const MATRIX_SHAPES: Record<AttentionPass, { nsg: number; stream: number; interleave?: boolean }[]> = {
  forward: [{ nsg: 4, stream: 32 }, { nsg: 4, stream: 64 }, { nsg: 2, stream: 32 }, { nsg: 2, stream: 64 }, { nsg: 1, stream: 32 }, { nsg: 4, stream: 32, interleave: true }],
  dkdv: [{ nsg: 4, stream: 32, interleave: true }, { nsg: 4, stream: 32 }, { nsg: 2, stream: 32, interleave: true }, { nsg: 2, stream: 32 }, { nsg: 2, stream: 16 }, { nsg: 2, stream: 64 }, { nsg: 1, stream: 16 }],
  dq: [{ nsg: 2, stream: 16 }, { nsg: 2, stream: 16, interleave: true }, { nsg: 4, stream: 32 }, { nsg: 2, stream: 32 }, { nsg: 1, stream: 16 }, { nsg: 1, stream: 32 }],
};

/**
 * The tensor-core (subgroup-matrix) tiles of a pass that fit the adapter, preferred first; none
 * when the kernels cannot run: they need f16 inputs whose rows start on vec4 boundaries, an
 * f16 -> f32 subgroup-matrix config, a fixed subgroup size, and a head dim that is a whole number
 * of fragments.
 */
export function attentionMatrixCandidates(gpu: Gpu, pass: AttentionPass, dtype: string, headDim: number, inputs: Tensor[]): AttentionMatrixTile[] {
  const frag = tensorCoreConfig(gpu);
  if (dtype !== 'f16' || !frag || !gpu.caps.subgroups || !vec4Rows(headDim, inputs)) return [];
  return MATRIX_SHAPES[pass].map((s): AttentionMatrixTile => ({ ...s, sub: gpu.caps.subgroupMinSize, frag, d: headDim }))
    .filter((t) => matrixTileFits(gpu, pass, t));
}

/** The tensor-core tile a pass uses by default, or null (see attentionMatrixCandidates). */
export function attentionMatrixTile(gpu: Gpu, pass: AttentionPass, dtype: string, headDim: number, inputs: Tensor[]): AttentionMatrixTile | null {
  return attentionMatrixCandidates(gpu, pass, dtype, headDim, inputs)[0] ?? null;
}

function matrixTileFits(gpu: Gpu, pass: AttentionPass, t: AttentionMatrixTile): boolean {
  const limits = gpu.caps.limits;
  return attentionTileProblem(t) === null && attentionWorkgroupBytes(pass, t) <= limits.maxComputeWorkgroupStorageSize &&
    t.nsg * t.sub <= limits.maxComputeInvocationsPerWorkgroup;
}

/** The caller's tensor-core tile for a pass (checked), else the default one, or null. */
function matrixTileFor(gpu: Gpu, pass: AttentionPass, x: Dims, inputs: Tensor[], given?: AttentionMatrixTile): AttentionMatrixTile | null {
  if (!given) return attentionMatrixTile(gpu, pass, x.dtype, x.d, inputs);
  const usable = attentionMatrixCandidates(gpu, pass, x.dtype, x.d, inputs).length > 0;
  if (!usable || given.d !== x.d || !matrixTileFits(gpu, pass, given)) {
    throw new ShapeError(`attention: tensor-core tile ${JSON.stringify(given)} cannot run the ${pass} pass here ` +
      '(it needs f16 inputs with vec4-aligned rows, subgroup matrices, and a tile that fits the adapter)');
  }
  return given;
}

const matrixKernels = new Map<string, Kernel>();

function matrixKernel(pass: AttentionPass, t: AttentionMatrixTile): Kernel {
  const name = attentionTileName(pass, t);
  let k = matrixKernels.get(name);
  if (!k) matrixKernels.set(name, (k = { name, source: commonWgsl + attentionMatrixSource(pass, t) }));
  return k;
}

/** outputs: the views the pass writes (their layouts decide OUT_VEC4). */
function matrixSpec(x: Dims, pass: AttentionPass, t: AttentionMatrixTile, outputs: Tensor[]): Spec {
  const vecOut = outputs.every((o) => layout(o).every((v) => v % 4 === 0));
  return {
    enable: ['f16', 'subgroups', 'chromium_experimental_subgroup_matrix'],
    alias: { T: 'f16' },
    const: { D: x.d, ...attentionTileConsts(t) },
    flags: ['VEC4', { forward: 'FORWARD', dkdv: 'DKDV', dq: 'DQ' }[pass], ...(pass === 'forward' ? [] : ['GRAD']),
      ...(vecOut ? ['OUT_VEC4'] : [])],
  };
}

// ---- validation -----------------------------------------------------------------------------

interface Dims { b: number; h: number; tq: number; tk: number; d: number; dtype: 'f32' | 'f16' }

function requireRank4(x: Tensor, name: string, want: string): void {
  if (x.rank !== 4) throw new ShapeError(`attention ${name} must be ${want}, got [${x.shape}]`);
  if (x.strides[3] !== 1 && x.shape[3] > 1) {
    throw new ShapeError(`attention ${name} must have a contiguous last (head) dimension; call contiguous() first`);
  }
}

function checkInputs(q: Tensor, k: Tensor, v: Tensor): Dims {
  requireRank4(q, 'q', '[B, H, Tq, D]');
  requireRank4(k, 'k', '[B, H, Tk, D]');
  requireRank4(v, 'v', '[B, H, Tk, D]');
  const [b, h, tq, d] = q.shape;
  const tk = k.shape[2];
  if (q.dtype !== 'f32' && q.dtype !== 'f16') throw new ShapeError(`attention takes f32 or f16 q, k, v, got ${q.dtype}; cast() it first`);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new ShapeError(`attention q, k, v must share a dtype, got ${q.dtype}, ${k.dtype}, ${v.dtype}`);
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== d) {
    throw new ShapeError(`attention k must be [${b}, ${h}, Tk, ${d}] to match q [${q.shape}], got [${k.shape}]`);
  }
  if (v.shape.some((x, i) => x !== k.shape[i])) throw new ShapeError(`attention v must have k's shape [${k.shape}], got [${v.shape}]`);
  if (d < 1 || d > MAX_HEAD_DIM) throw new ShapeError(`attention head dim must be 1..${MAX_HEAD_DIM}, got ${d}`);
  return { b, h, tq, tk, d, dtype: q.dtype };
}

function checkMask(mask: AttentionMask, x: Dims): void {
  if (mask.batch !== null && mask.batch !== x.b) {
    throw new ShapeError(`attention mask was built for batch ${mask.batch}, but the input has batch ${x.b}`);
  }
  const s = mask.segmentLengths;
  if (s && (s.tq !== x.tq || s.tk !== x.tk)) {
    throw new ShapeError(`attention mask segment ids are for Tq=${s.tq}, Tk=${s.tk}, but the input has Tq=${x.tq}, Tk=${x.tk}`);
  }
}

function requireLike(x: Tensor, name: string, shape: readonly number[], dtype: string): void {
  if (x.dtype !== dtype || x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`attention ${name} must be ${dtype} [${shape}], got ${x.dtype} [${x.shape}]`);
  }
}

/** A view the kernels may write: right shape and dtype, rows contiguous, not bound as an input too. */
function requireOutput(x: Tensor, name: string, shape: readonly number[], dtype: string, inputs: Tensor[]): void {
  requireLike(x, name, shape, dtype);
  if (x.strides[3] !== 1 && x.shape[3] > 1) {
    throw new ShapeError(`attention ${name} must have a contiguous last (head) dimension, got strides [${x.strides}]`);
  }
  if (inputs.some((t) => t.buffer === x.buffer)) {
    // WebGPU refuses a dispatch that binds one buffer both read-only and writable.
    throw new ShapeError(`attention ${name} must not share a buffer with the kernel's inputs`);
  }
}

// ---- dispatch ----------------------------------------------------------------------------

/** (offset, stride_b, stride_h, stride_t) of a [B, H, T, D] view. */
function layout(x: Tensor): number[] {
  return [x.offset, x.strides[0], x.strides[1], x.strides[2]];
}

/** The [B, H, T, D] views a dispatch reads and writes (those a pass does not use are absent). */
interface Views { q: Tensor; k: Tensor; v: Tensor; dO?: Tensor; o?: Tensor; dq?: Tensor; dk?: Tensor; dv?: Tensor }

function params(x: Dims, mask: AttentionMask, maskBits: number, scale: number, t: Views): Param[] {
  const offset = mask.causalOffset ?? x.tk - x.tq;
  const l = (view?: Tensor) => (view ? layout(view) : [0, 0, 0, 0]);
  return [x.h, x.tq, x.tk, x.b, f32(scale), i32(offset), f32(-Infinity), maskBits, Math.ceil(x.d / 4), 0, 0, 0,
    ...l(t.q), ...l(t.k), ...l(t.v), ...l(t.dO), ...l(t.o), ...l(t.dq), ...l(t.dk), ...l(t.dv)];
}

/** Whether every input row starts on a vec4 boundary, so the kernels may load vec4s (flag VEC4). */
function vec4Rows(d: number, inputs: Tensor[]): boolean {
  return d % 4 === 0 && inputs.every((t) => layout(t).every((v) => v % 4 === 0));
}

function spec(x: Dims, tiles: AttentionTiles, streamed: 'BN' | 'BNK' | 'BMQ', inputs: Tensor[]): Spec {
  return mergeSpecs(floatSpec(x.dtype), {
    const: { D: x.d, RG: tiles.rg, TM: tiles.tm, NX: tiles.nx, [streamed]: tiles.n },
    flags: [...(vec4Rows(x.d, inputs) ? ['VEC4'] : []), ...(streamed === 'BN' ? [] : ['GRAD'])],
  });
}

function resolveScale(scale: number | undefined, d: number): number {
  const s = scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(s)) throw new ShapeError(`attention scale must be a finite number, got ${scale}`);
  return s;
}

const allBf16 = (...xs: Tensor[]) => xs.every((x) => x.dtype === 'bf16');

export interface AttentionForwardOptions {
  /**
   * Where to write o: a [B, H, Tq, D] view with q's dtype and a contiguous last dimension, in a
   * buffer that holds none of q, k, v (e.g. the permuted view of a [B, Tq, H, D] tensor, so that
   * the heads come out merged). Default: a new contiguous tensor.
   */
  out?: Tensor;
  /** A tensor-core tile from attentionMatrixCandidates (benchmarks compare them); default: the first. */
  matrixTile?: AttentionMatrixTile;
}

export interface AttentionBackwardOptions {
  /**
   * Where to write the gradients: [B, H, Tq, D] dq and [B, H, Tk, D] dk, dv views with q's dtype
   * and contiguous last dimensions, in buffers that hold none of the inputs. dk and dv must be
   * views of ONE buffer (the dK/dV kernel writes both through one binding), e.g. of the fused
   * [B, T, 3, H, D] qkv gradient, which may hold dq too. Default: new tensors.
   */
  grads?: { dq: Tensor; dk: Tensor; dv: Tensor };
  /** Tensor-core tiles from attentionMatrixCandidates for either pass (benchmarks compare them). */
  matrixTiles?: { dkdv?: AttentionMatrixTile; dq?: AttentionMatrixTile };
  /**
   * How dQ is computed on tensor cores: 'product' (the default where Tq is a multiple of 8 and the
   * f16 dS^T [B*H, Tk, Tq] fits one buffer): the dK/dV pass also writes dS^T, and dQ = scale dS K
   * is one batched product over all heads; 'pass': its own pass, which computes S and dP again.
   */
  dqVia?: 'product' | 'pass';
}

/**
 * o = softmax(scale * q k^T + mask) v, without materialising the Tq x Tk scores.
 * q [B, H, Tq, D], k and v [B, H, Tk, D] (f32, f16 or bf16; views with a contiguous last dimension
 * are fine). Returns o [B, H, Tq, D] (contiguous, or another reference to opts.out) and lse
 * [B, H, Tq] (f32 row log-sum-exp, -inf for a row that may attend nothing, whose o is 0) to pass
 * to attentionBackward. Scale defaults to 1/sqrt(D). bf16 inputs are read through f32 copies and
 * o is returned rounded to bf16 (no opts.out then).
 */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask, scale?: number,
  opts: AttentionForwardOptions = {}): { o: Tensor; lse: Tensor } {
  if (allBf16(q, k, v)) {
    if (opts.out) throw new ShapeError('attention on bf16 inputs computes in f32 copies and returns a new o; leave out opts.out');
    const r = viaF32([q, k, v], (qf, kf, vf) => attentionForwardTiled(qf, kf, vf, mask, scale, undefined, opts));
    return { o: narrow(r.o, 'bf16'), lse: r.lse };
  }
  return attentionForwardTiled(q, k, v, mask, scale, undefined, opts);
}

/**
 * attentionForward with an explicit tiling of the tiled kernel (tests and benchmarks compare
 * tilings); without one, f16 inputs run on tensor cores where attentionMatrixTile allows.
 */
export function attentionForwardTiled(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask, scale?: number, tiles?: AttentionTiles,
  opts: AttentionForwardOptions = {}): { o: Tensor; lse: Tensor } {
  const x = checkInputs(q, k, v);
  checkMask(mask, x);
  const s = resolveScale(scale, x.d);
  const gpu = q.gpu;
  if (opts.out) requireOutput(opts.out, 'out', q.shape, x.dtype, [q, k, v]);
  const o = opts.out ? opts.out.ref() : Tensor.empty(gpu, [x.b, x.h, x.tq, x.d], x.dtype);
  const lse = Tensor.empty(gpu, [x.b, x.h, x.tq], 'f32');
  const m = mask.binding(q.buffer);
  const buffers = [q.buffer, k.buffer, v.buffer, o.buffer, lse.buffer, m.buffer];
  const p = params(x, mask, m.bits, s, { q, k, v, o });
  const tc = tiles ? null : matrixTileFor(gpu, 'forward', x, [q, k, v], opts.matrixTile);
  if (tc) {
    gpu.dispatch(matrixKernel('forward', tc), matrixSpec(x, 'forward', tc, [o]), buffers, p, [Math.ceil(x.tq / (tc.nsg * tc.frag.m)), x.h, x.b]);
    return { o, lse };
  }
  const t = tiles ?? chooseTiles(gpu, 'forward', x.d);
  checkTiles(gpu, 'forward', t, x.d);
  gpu.dispatch(FORWARD, spec(x, t, 'BN', [q, k, v]), buffers, p, [Math.ceil(x.tq / (t.rg * t.tm)), x.h, x.b]);
  return { o, lse };
}

/**
 * Gradients of attentionForward: given dO (the gradient of o) and the forward's o and lse,
 * returns dq, dk, dv (the dtype of q): each contiguous (dk and dv share one buffer), or another
 * reference to the views in opts.grads. Deterministic: no atomics. bf16 tensors are read through
 * f32 copies and the gradients returned rounded to bf16 (no opts.grads then).
 */
export function attentionBackward(dO: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor,
  mask: AttentionMask, scale?: number, opts: AttentionBackwardOptions = {}): { dq: Tensor; dk: Tensor; dv: Tensor } {
  if (allBf16(dO, q, k, v, o)) {
    if (opts.grads) throw new ShapeError('attention on bf16 inputs computes in f32 copies and returns new gradients; leave out opts.grads');
    const g = viaF32([dO, q, k, v, o], (df, qf, kf, vf, of) => attentionBackwardTiled(df, qf, kf, vf, of, lse, mask, scale, undefined, opts));
    return { dq: narrow(g.dq, 'bf16'), dk: narrow(g.dk, 'bf16'), dv: narrow(g.dv, 'bf16') };
  }
  return attentionBackwardTiled(dO, q, k, v, o, lse, mask, scale, undefined, opts);
}

/** attentionBackward with explicit tilings of the tiled dk/dv and dq passes (as attentionForwardTiled). */
export function attentionBackwardTiled(dO: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor,
  mask: AttentionMask, scale?: number, tiles?: { dkdv: AttentionTiles; dq: AttentionTiles },
  opts: AttentionBackwardOptions = {}): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const x = checkInputs(q, k, v);
  checkMask(mask, x);
  requireRank4(dO, 'dO', '[B, H, Tq, D]');
  requireRank4(o, 'o', '[B, H, Tq, D]');
  requireLike(dO, 'dO (the gradient of o)', q.shape, x.dtype);
  requireLike(o, 'o (the forward output)', q.shape, x.dtype);
  requireLike(lse, 'lse (the forward log-sum-exp)', [x.b, x.h, x.tq], 'f32');
  if (!lse.isContiguous) throw new ShapeError('attention lse must be contiguous, as attentionForward returns it');
  const given = opts.grads;
  if (given) {
    const read = [dO, q, k, v, o, lse];
    requireOutput(given.dq, 'grads.dq', q.shape, x.dtype, read);
    requireOutput(given.dk, 'grads.dk', k.shape, x.dtype, read);
    requireOutput(given.dv, 'grads.dv', v.shape, x.dtype, read);
    if (given.dk.buffer !== given.dv.buffer) {
      throw new ShapeError('attention grads.dk and grads.dv must be views of one buffer: the dK/dV kernel writes both ' +
        'through one binding (WebGPU allows no second writable binding of a buffer); e.g. slices of one [B, Tk, 2, H, D] tensor');
    }
  }
  const s = resolveScale(scale, x.d);
  const gpu = q.gpu;
  const inputs = [q, k, v, dO];
  const tcKV = tiles ? null : matrixTileFor(gpu, 'dkdv', x, inputs, opts.matrixTiles?.dkdv);
  const tcQ = tiles ? null : matrixTileFor(gpu, 'dq', x, inputs, opts.matrixTiles?.dq);
  const tKV = tcKV ? null : tiles?.dkdv ?? chooseTiles(gpu, 'dkdv', x.d);
  const tQ = tcQ ? null : tiles?.dq ?? chooseTiles(gpu, 'dq', x.d);
  if (tKV) checkTiles(gpu, 'dkdv', tKV, x.d);
  if (tQ) checkTiles(gpu, 'dq', tQ, x.d);

  const rows = x.b * x.h * x.tq;
  const stats = Tensor.empty(gpu, [x.b, x.h, x.tq, 2], 'f32');
  gpu.dispatch(DELTA, mergeSpecs(floatSpec(x.dtype), { const: { D: x.d }, flags: vec4Rows(x.d, [dO, o]) ? ['VEC4'] : [] }),
    [dO.buffer, o.buffer, lse.buffer, stats.buffer], [rows, x.h, x.tq, 0, ...layout(dO), ...layout(o)], grid1d(rows, DELTA_ROWS_PER_WG));

  let dq: Tensor, dk: Tensor, dv: Tensor;
  if (given) {
    [dq, dk, dv] = [given.dq.ref(), given.dk.ref(), given.dv.ref()];
  } else {
    dq = Tensor.empty(gpu, q.shape, x.dtype);
    const kv = Tensor.empty(gpu, [2, ...k.shape], x.dtype);
    [dk, dv] = [kv.select(0, 0), kv.select(0, 1)];
    kv.dispose();
  }
  const m = mask.binding(q.buffer);
  const p = params(x, mask, m.bits, s, { q, k, v, dO, dq, dk, dv });
  const kvBuffers = [q.buffer, k.buffer, v.buffer, dO.buffer, stats.buffer, dk.buffer, m.buffer];
  const qBuffers = [q.buffer, k.buffer, v.buffer, dO.buffer, stats.buffer, dq.buffer, m.buffer];
  // dS^T from the dK/dV pass, for dQ as a product (see opts.dqVia); zero where no tile is visited.
  const dsBytes = x.b * x.h * x.tk * x.tq * 2;
  const dsFits = dsBytes <= Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize);
  const viaProduct = tcKV && tcQ && (opts.dqVia ?? 'product') === 'product' && x.tq % 8 === 0 && dsFits;
  const productTile = viaProduct && tcKV && x.d <= 64
    ? { bm: 64, bn: 64, bk: 32, sgM: 2, sgN: 2, pad: 8, stages: 2 as const, sub: tcKV.sub, frag: tcKV.frag } : undefined;
  // Under a plain causal mask (query i sees keys j <= i) dS is lower triangular, and the dK/dV pass
  // visits, for each of its key tiles, every query from the tile's first key on: so a product tile of
  // queries whose rows divide that key tile only reads entries the pass wrote (masked ones as zeros)
  // when it stops at its last row. Then half the product is skipped and dS^T needs no clearing.
  const triangular = !!productTile && !!tcKV && mask.causal && mask.batch === null && mask.segmentLengths === null &&
    (mask.causalOffset ?? x.tk - x.tq) === 0 && (tcKV.nsg * tcKV.frag.m) % productTile.bm === 0;
  const dsT = viaProduct ? (triangular ? Tensor.empty : Tensor.zeros)(gpu, [x.b * x.h, x.tk, x.tq], 'f16') : null;
  if (tcKV) {
    const sp = matrixSpec(x, 'dkdv', tcKV, [dk, dv]);
    if (dsT) sp.flags!.push('DS_OUT');
    gpu.dispatch(matrixKernel('dkdv', tcKV), sp, dsT ? [...kvBuffers, dsT.buffer] : kvBuffers, p, [Math.ceil(x.tk / (tcKV.nsg * tcKV.frag.m)), x.h, x.b]);
  } else if (tKV) {
    gpu.dispatch(DKDV, spec(x, tKV, 'BMQ', inputs), kvBuffers, p, [Math.ceil(x.tk / (tKV.rg * tKV.tm)), x.h, x.b]);
  }
  if (dsT) {
    // One product over all B*H heads (k made contiguous by matmul where it is a strided view), then
    // into dq, which may be a view of a fused gradient whose batch dimensions do not collapse.
    const kc = k.isContiguous ? k.ref() : contiguous(k);
    const kAll = kc.reshape([x.b * x.h, x.tk, x.d]);
    kc.dispose();
    const product = matmul(dsT, kAll, { transA: true, alpha: s, variant: 'subgroup-matrix', tile: productTile, lowerTriangularA: triangular });
    const shaped = product.reshape([x.b, x.h, x.tq, x.d]);
    copyInto(shaped, dq);
    [kAll, product, shaped].forEach((t) => t.dispose());
    dsT.dispose();
  } else if (tcQ) {
    gpu.dispatch(matrixKernel('dq', tcQ), matrixSpec(x, 'dq', tcQ, [dq]), qBuffers, p, [Math.ceil(x.tq / (tcQ.nsg * tcQ.frag.m)), x.h, x.b]);
  } else if (tQ) {
    gpu.dispatch(DQ, spec(x, tQ, 'BNK', inputs), qBuffers, p, [Math.ceil(x.tq / (tQ.rg * tQ.tm)), x.h, x.b]);
  }
  stats.dispose();
  return { dq, dk, dv };
}
