// Fused softmax cross-entropy with ignore-index and optional label smoothing
// (shaders/cross_entropy.wgsl). The mean loss stays on the GPU (no read-back); backward
// recomputes the softmax from the logits and the saved log-sum-exp, optionally writing the
// gradient over the logits' own buffer.
// bf16 tensors are read through f32 copies and results rounded back (viaF32 in src/tensor/ops.ts).
import crossEntropyWgsl from '../../../shaders/cross_entropy.wgsl';
import { f32, type Kernel, type Param } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import { InputError, ShapeError } from '../../errors.js';
import { floatSpec, mergeSpecs, narrow, viaF32 } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, requireShape, withDense } from './util.js';

const FORWARD: Kernel = { name: 'cross_entropy_forward', source: crossEntropyWgsl };
const MEAN: Kernel = { name: 'cross_entropy_mean', source: crossEntropyWgsl };
const BACKWARD: Kernel = { name: 'cross_entropy_backward', source: crossEntropyWgsl };

export const DEFAULT_IGNORE_INDEX = 0xffffffff;

export interface CrossEntropyOptions {
  /** Target value whose rows are skipped (default 0xFFFFFFFF; -1 means the same for i32 targets). */
  ignoreIndex?: number;
  /** Weight e of the uniform distribution mixed into the target: (1 - e) onehot + e / V. Default 0. */
  labelSmoothing?: number;
}

export interface CrossEntropyOutput {
  /** Mean loss over non-ignored rows, f32 [1] (0 when every row is ignored). */
  loss: Tensor;
  /** Per-row loss, f32, shaped like targets (0 on ignored rows). */
  rowLoss: Tensor;
  /** Saved for backward: per-row log-sum-exp (f32) and the non-ignored row count (u32 [1]). */
  lse: Tensor;
  count: Tensor;
}

function checkArgs(logits: Tensor, op: string, targets: Tensor, opts: CrossEntropyOptions) {
  requireFloat(logits, `${op} logits`);
  if (logits.rank < 1 || logits.shape[logits.rank - 1] === 0) {
    throw new ShapeError(`${op} needs logits of shape [..., V] with V > 0, got [${logits.shape}]`);
  }
  const vocab = logits.shape[logits.rank - 1];
  const rows = logits.size / vocab;
  if (targets.dtype !== 'u32' && targets.dtype !== 'i32') throw new ShapeError(`${op} targets must be u32 or i32 class ids, got ${targets.dtype}`);
  requireShape(targets, logits.shape.slice(0, -1), `${op} targets (one per row of logits [${logits.shape}])`);
  const ignore = opts.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  if (!Number.isInteger(ignore) || ignore < -(2 ** 31) || ignore >= 2 ** 32) {
    throw new InputError(`${op} ignoreIndex must be a 32-bit integer, got ${ignore}`);
  }
  const smoothing = opts.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new InputError(`${op} labelSmoothing must be in [0, 1], got ${smoothing}`);
  return { rows, vocab, uniforms: [rows, vocab, ignore >>> 0, f32(smoothing)] as Param[] };
}

/** Cross-entropy of logits [..., V] against class ids [...]: per-row losses and their mean. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): CrossEntropyOutput {
  if (logits.dtype === 'bf16') return viaF32([logits], (lf) => crossEntropy(lf, targets, opts));
  const { rows, vocab, uniforms } = checkArgs(logits, 'crossEntropy', targets, opts);
  const gpu = logits.gpu;
  const rowLoss = Tensor.empty(gpu, targets.shape, 'f32');
  const lse = Tensor.empty(gpu, targets.shape, 'f32');
  const loss = Tensor.empty(gpu, [1], 'f32');
  const count = Tensor.empty(gpu, [1], 'u32');
  withDense([logits, targets], (ld, td) => {
    const spec = floatSpec(logits.dtype);
    gpu.dispatch(FORWARD, mergeSpecs(spec, { flags: ['FORWARD', ...vec4Flag(vocab, ld)] }), [ld.buffer, td.buffer, rowLoss.buffer, lse.buffer], uniforms, grid1d(rows, 1));
    gpu.dispatch(MEAN, mergeSpecs(spec, { flags: ['MEAN'] }), [rowLoss.buffer, td.buffer, loss.buffer, count.buffer], uniforms, [1]);
  });
  return { loss, rowLoss, lse, count };
}

/**
 * Gradient of the mean loss with respect to the logits: (softmax - target) * dloss / count,
 * zero on ignored rows. `dloss` is the upstream gradient of `loss` (f32 [1] tensor, or a
 * number). With `inPlace` the result overwrites the logits' buffer (which must be contiguous)
 * and is returned as a new reference to it: the logits' values are gone afterwards. bf16 logits
 * are read through an f32 copy, which takes the gradient in place; it is returned rounded to bf16.
 */
export function crossEntropyBackward(
  logits: Tensor, targets: Tensor, saved: { lse: Tensor; count: Tensor }, dloss: Tensor | number,
  opts: CrossEntropyOptions & { inPlace?: boolean } = {},
): Tensor {
  if (logits.dtype === 'bf16') {
    return narrow(viaF32([logits], (lf) => crossEntropyBackward(lf, targets, saved, dloss, { ...opts, inPlace: true })), 'bf16');
  }
  const op = 'crossEntropyBackward';
  const { rows, vocab, uniforms } = checkArgs(logits, op, targets, opts);
  requireShape(saved.lse, targets.shape, `${op} lse (from the forward pass)`);
  if (saved.lse.dtype !== 'f32') throw new ShapeError(`${op} lse must be f32, got ${saved.lse.dtype}`);
  if (saved.count.dtype !== 'u32' || saved.count.size !== 1) throw new ShapeError(`${op} count must be the u32 [1] tensor the forward pass returned`);
  const upstream = typeof dloss === 'number';
  if (!upstream && (dloss.dtype !== 'f32' || dloss.size !== 1)) {
    throw new ShapeError(`${op} dloss must be a number or an f32 tensor of one element, got ${dloss.dtype} [${dloss.shape}]`);
  }
  if (opts.inPlace && (!logits.isContiguous || logits.offset !== 0)) {
    throw new ShapeError(`${op} inPlace needs contiguous logits starting at offset 0`);
  }
  const flags = ['BACKWARD', ...(opts.inPlace ? ['IN_PLACE'] : []), ...(upstream ? ['DLOSS_UNIFORM'] : [])];
  const gpu = logits.gpu;
  const dlogits = opts.inPlace ? logits.ref() : Tensor.empty(gpu, logits.shape, logits.dtype);
  // A number travels in the uniforms, so a host-side loss scale costs no upload or flush.
  const params = [...uniforms, f32(upstream ? dloss : 0)];
  withDense([logits, targets, saved.lse, saved.count, ...(upstream ? [] : [dloss])], (zd, td, ld, cd, dd) => {
    const buffers = [zd.buffer, td.buffer, ld.buffer, cd.buffer, ...(dd ? [dd.buffer] : [])];
    const spec = mergeSpecs(floatSpec(logits.dtype), { flags: [...flags, ...vec4Flag(vocab, zd)] });
    gpu.dispatch(BACKWARD, spec, opts.inPlace ? buffers : [...buffers, dlogits.buffer], params, grid1d(rows, 1));
  });
  return dlogits;
}

/** VEC4 when every row of the (dense) logits starts on a 4-element boundary. */
function vec4Flag(vocab: number, dense: Tensor): string[] {
  return vocab % 4 === 0 && dense.offset % 4 === 0 ? ['VEC4'] : [];
}
