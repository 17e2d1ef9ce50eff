// LayerNorm and RMSNorm over the last dimension, forward and backward (shaders/layernorm.wgsl).
// Forward returns the per-row statistics (f32) that backward needs; backward returns dx
// and the parameter gradients, reduced over rows deterministically (no float atomics).
// bf16 tensors are read through f32 copies and results rounded back (viaF32 in src/tensor/ops.ts).
import layernormWgsl from '../../../shaders/layernorm.wgsl';
import { f32, type Kernel } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import type { Spec } from '../../gpu/specialise.js';
import { ShapeError } from '../../errors.js';
import { anyBf16, floatSpec, mergeSpecs, narrow, viaF32 } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, requireShape, withDense } from './util.js';

const FORWARD: Kernel = { name: 'norm_forward', source: layernormWgsl };
const BACKWARD_DX: Kernel = { name: 'norm_backward_dx', source: layernormWgsl };
const PARAM_PARTIAL: Kernel = { name: 'norm_param_partial', source: layernormWgsl };
const PARAM_FINAL: Kernel = { name: 'norm_param_final', source: layernormWgsl };

/**
 * Rows per chunk of the parameter-gradient reduction: enough chunks to fill the GPU, few enough to
 * sum quickly (each PARAM_PARTIAL thread walks every ROW_LANES-th row of its chunk).
 */
const MAX_CHUNKS = 256;
const MIN_CHUNK_ROWS = 32;
const PARTIAL_UNITS = 64; // column units per PARAM_PARTIAL workgroup (shaders/layernorm.wgsl)
const FINAL_COLS = 32; // columns per PARAM_FINAL workgroup (shaders/layernorm.wgsl)
const WG = 256; // threads per workgroup (shaders/layernorm.wgsl)
/** Units a FORWARD / BACKWARD_DX thread keeps in registers: 8 (f16: 16 registers per tensor held). */
const MAX_RESIDENT_STEPS = 8;

type Kind = 'layer' | 'rms';

export interface LayerNormOutput {
  y: Tensor;
  /** Per-row mean and 1/sqrt(var + eps), f32, shape = x.shape without the last dimension. */
  mean: Tensor;
  rstd: Tensor;
}

export interface RmsNormOutput {
  y: Tensor;
  /** Per-row 1/sqrt(mean(x^2) + eps), f32, shape = x.shape without the last dimension. */
  rstd: Tensor;
}

/** How FORWARD and BACKWARD_DX lay out a row of `cols` elements (see shaders/layernorm.wgsl). */
export interface NormRowLayout {
  /** Units are vec4s (cols % 4 == 0) rather than single elements. */
  vec4: boolean;
  /** Threads per row, a power of two <= 256; 256 / threadsPerRow rows per workgroup. */
  threadsPerRow: number;
  /** The most units a thread handles when the row stays in registers, or null when each pass re-reads it. */
  residentSteps: number | null;
}

/** The fewest threads per row that keep the row in registers, or 256 re-reading threads for long rows. */
export function normRowLayout(cols: number): NormRowLayout {
  const vec4 = cols % 4 === 0;
  const units = vec4 ? cols / 4 : cols;
  const threadsPerRow = Math.min(WG, 2 ** Math.ceil(Math.log2(Math.ceil(units / MAX_RESIDENT_STEPS))));
  const steps = Math.ceil(units / threadsPerRow);
  return { vec4, threadsPerRow, residentSteps: steps <= MAX_RESIDENT_STEPS ? steps : null };
}

function spec(kind: Kind, x: Tensor, weight: Tensor, stage: string, cols: number): Spec {
  const { vec4, threadsPerRow, residentSteps } = normRowLayout(cols);
  const unit = (t: string) => (vec4 ? `vec4<${t}>` : t);
  const flags = [stage, ...(kind === 'rms' ? ['RMS'] : []), ...(vec4 ? ['VEC4'] : [])];
  const rows: Spec = stage === 'FORWARD' || stage === 'BACKWARD_DX'
    ? { const: { TPR: threadsPerRow, STEPS: residentSteps ?? 0xffffffff }, flags: ['ROWS', ...(residentSteps ? ['RESIDENT'] : [])] }
    : {};
  return mergeSpecs(floatSpec(x.dtype), floatSpec(weight.dtype, 'W'),
    { alias: { XU: unit('T'), WU: unit('W'), U: unit('f32') }, flags }, rows);
}

/** Workgroups for FORWARD and BACKWARD_DX over `rows` rows of `cols`. */
function rowGrid(rows: number, cols: number): [number, number] {
  return grid1d(rows, WG / normRowLayout(cols).threadsPerRow);
}

/** Rows and width of x, after checking x and the parameters that normalise its last dimension. */
function checkInputs(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, eps?: number): [number, number] {
  requireFloat(x, `${op} input`);
  requireFloat(weight, `${op} weight`);
  if (x.rank < 1) throw new ShapeError(`${op} needs an input of rank >= 1, got a scalar`);
  const cols = x.shape[x.rank - 1];
  if (cols === 0) throw new ShapeError(`${op} cannot normalise an empty last dimension (shape [${x.shape}])`);
  requireShape(weight, [cols], `${op} weight (one per element of the last dimension of [${x.shape}])`);
  if (bias) {
    requireShape(bias, [cols], `${op} bias`);
    if (bias.dtype !== weight.dtype) throw new ShapeError(`${op} bias is ${bias.dtype} but weight is ${weight.dtype}`);
  }
  if (eps !== undefined && !(eps > 0)) throw new ShapeError(`${op} eps must be positive, got ${eps}`);
  return [x.size / cols, cols];
}

function forward(kind: Kind, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): { y: Tensor; mean: Tensor | null; rstd: Tensor } {
  if (anyBf16(x, weight, bias)) {
    const r = viaF32([x, weight, bias], (xf, wf, bf) => forward(kind, xf, wf, bf, eps));
    return { ...r, y: narrow(r.y, x.dtype) };
  }
  const op = kind === 'rms' ? 'rmsNorm' : 'layerNorm';
  const [rows, cols] = checkInputs(op, x, weight, bias, eps);
  const gpu = x.gpu;
  const statShape = x.shape.slice(0, -1);
  const y = Tensor.empty(gpu, x.shape, x.dtype);
  const mean = kind === 'layer' ? Tensor.empty(gpu, statShape, 'f32') : null;
  const rstd = Tensor.empty(gpu, statShape, 'f32');
  withDense(bias ? [x, weight, bias] : [x, weight], (xd, wd, bd) => {
    const buffers = kind === 'layer'
      ? [xd.buffer, wd.buffer, bd.buffer, y.buffer, mean!.buffer, rstd.buffer]
      : [xd.buffer, wd.buffer, y.buffer, rstd.buffer];
    gpu.dispatch(FORWARD, spec(kind, x, weight, 'FORWARD', cols), buffers, [rows, cols, f32(eps), 0], rowGrid(rows, cols));
  });
  return { y, mean, rstd };
}

function backward(kind: Kind, dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor | null, rstd: Tensor):
  { dx: Tensor; dweight: Tensor; dbias: Tensor | null } {
  if (anyBf16(dy, x, weight)) {
    const r = viaF32([dy, x, weight], (df, xf, wf) => backward(kind, df, xf, wf, mean, rstd));
    return { dx: narrow(r.dx, x.dtype), dweight: narrow(r.dweight, weight.dtype), dbias: r.dbias && narrow(r.dbias, weight.dtype) };
  }
  const op = kind === 'rms' ? 'rmsNormBackward' : 'layerNormBackward';
  const [rows, cols] = checkInputs(op, x, weight, null);
  requireShape(dy, x.shape, `${op} dy (the gradient of y, shaped like x)`);
  if (dy.dtype !== x.dtype) throw new ShapeError(`${op} dy is ${dy.dtype} but x is ${x.dtype}`);
  const statShape = x.shape.slice(0, -1);
  for (const [s, name] of [[mean, 'mean'], [rstd, 'rstd']] as const) {
    if (!s) continue;
    requireShape(s, statShape, `${op} ${name} (from the forward pass)`);
    if (s.dtype !== 'f32') throw new ShapeError(`${op} ${name} must be f32 (as the forward pass returns it), got ${s.dtype}`);
  }
  const gpu = x.gpu;
  const dx = Tensor.empty(gpu, x.shape, x.dtype);
  const dweight = Tensor.empty(gpu, [cols], weight.dtype);
  const dbias = kind === 'layer' ? Tensor.empty(gpu, [cols], weight.dtype) : null;
  const chunks = Math.max(1, Math.min(MAX_CHUNKS, Math.ceil(rows / MIN_CHUNK_ROWS)));
  const chunkRows = Math.max(1, Math.ceil(rows / chunks));
  const usedChunks = Math.max(1, Math.ceil(rows / chunkRows));
  const partial = Tensor.empty(gpu, [usedChunks, 2, cols], 'f32');
  const stats = mean ? [mean, rstd] : [rstd];
  withDense([dy, x, weight, ...stats], (dyd, xd, wd, ...sd) => {
    const statBufs = sd.map((s) => s.buffer);
    gpu.dispatch(BACKWARD_DX, spec(kind, x, weight, 'BACKWARD_DX', cols), [dyd.buffer, xd.buffer, wd.buffer, ...statBufs, dx.buffer],
      [rows, cols, f32(0), 0], rowGrid(rows, cols));
    if (rows === 0) {
      gpu.clear(partial.buffer);
    } else {
      const units = normRowLayout(cols).vec4 ? cols / 4 : cols;
      gpu.dispatch(PARAM_PARTIAL, spec(kind, x, weight, 'PARAM_PARTIAL', cols), [dyd.buffer, xd.buffer, ...statBufs, partial.buffer],
        [rows, cols, f32(0), chunkRows], [Math.ceil(units / PARTIAL_UNITS), usedChunks]);
    }
    gpu.dispatch(PARAM_FINAL, spec(kind, x, weight, 'PARAM_FINAL', cols), [partial.buffer, dweight.buffer, ...(dbias ? [dbias.buffer] : [])],
      [usedChunks, cols, f32(0), 0], [Math.ceil(cols / FINAL_COLS)]);
  });
  partial.dispose();
  return { dx, dweight, dbias };
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension (weight, bias: [C]). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): LayerNormOutput {
  const { y, mean, rstd } = forward('layer', x, weight, bias, eps);
  return { y, mean: mean!, rstd };
}

/** Gradients of layerNorm given dy and the statistics its forward pass returned. */
export function layerNormBackward(dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor):
  { dx: Tensor; dweight: Tensor; dbias: Tensor } {
  const { dx, dweight, dbias } = backward('layer', dy, x, weight, mean, rstd);
  return { dx, dweight, dbias: dbias! };
}

/** y = x / sqrt(mean(x^2) + eps) * weight over the last dimension (weight: [C]). */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): RmsNormOutput {
  const { y, rstd } = forward('rms', x, weight, null, eps);
  return { y, rstd };
}

/** Gradients of rmsNorm given dy and the rstd its forward pass returned. */
export function rmsNormBackward(dy: Tensor, x: Tensor, weight: Tensor, rstd: Tensor): { dx: Tensor; dweight: Tensor } {
  const { dx, dweight } = backward('rms', dy, x, weight, null, rstd);
  return { dx, dweight };
}
