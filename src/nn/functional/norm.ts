// LayerNorm and RMSNorm over the last dimension, forward and backward (shaders/layernorm.wgsl).
// Forward returns the per-row statistics (f32) that backward needs; backward returns dx
// and the parameter gradients, reduced over rows deterministically (no float atomics).
import layernormWgsl from '../../../shaders/layernorm.wgsl';
import { f32, type Kernel } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import type { Spec } from '../../gpu/specialise.js';
import { ShapeError } from '../../errors.js';
import { floatSpec, mergeSpecs } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, requireShape, withDense } from './util.js';

const FORWARD: Kernel = { name: 'norm_forward', source: layernormWgsl };
const BACKWARD_DX: Kernel = { name: 'norm_backward_dx', source: layernormWgsl };
const PARAM_PARTIAL: Kernel = { name: 'norm_param_partial', source: layernormWgsl };
const PARAM_FINAL: Kernel = { name: 'norm_param_final', source: layernormWgsl };

/** Rows per chunk of the parameter-gradient reduction: enough chunks to fill the GPU, few enough to sum quickly. */
const MAX_CHUNKS = 512;
const MIN_CHUNK_ROWS = 16;
const FINAL_COLS = 32; // columns per PARAM_FINAL workgroup (shaders/layernorm.wgsl)

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

function spec(kind: Kind, x: Tensor, weight: Tensor, stage: string): Spec {
  return mergeSpecs(floatSpec(x.dtype), floatSpec(weight.dtype, 'W'), { flags: [stage, ...(kind === 'rms' ? ['RMS'] : [])] });
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

function forward(kind: Kind, x: Tensor, weight: Tensor, bias: Tensor | null, eps: number) {
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
    gpu.dispatch(FORWARD, spec(kind, x, weight, 'FORWARD'), buffers, [rows, cols, f32(eps), 0], grid1d(rows, 1));
  });
  return { y, mean, rstd };
}

function backward(kind: Kind, dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor | null, rstd: Tensor) {
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
    gpu.dispatch(BACKWARD_DX, spec(kind, x, weight, 'BACKWARD_DX'), [dyd.buffer, xd.buffer, wd.buffer, ...statBufs, dx.buffer],
      [rows, cols, f32(0), 0], grid1d(rows, 1));
    if (rows === 0) {
      gpu.clear(partial.buffer);
    } else {
      gpu.dispatch(PARAM_PARTIAL, spec(kind, x, weight, 'PARAM_PARTIAL'), [dyd.buffer, xd.buffer, ...statBufs, partial.buffer],
        [rows, cols, f32(0), chunkRows], [Math.ceil(cols / 256), usedChunks]);
    }
    gpu.dispatch(PARAM_FINAL, spec(kind, x, weight, 'PARAM_FINAL'), [partial.buffer, dweight.buffer, ...(dbias ? [dbias.buffer] : [])],
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
