// Differentiable ops: each runs the forward kernels now and records on the tape how to
// map its output gradient to its inputs' gradients (the backward kernels).
import { Tape, Var } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import { ShapeError } from '../errors.js';
import { cast, contiguous, narrow, reduce } from '../tensor/ops.js';
import { matmul } from '../tensor/matmul.js';
import { layerNorm as layerNormForward, layerNormBackward } from './functional/norm.js';
import { gelu as geluForward, geluBackward } from './functional/activation.js';
import { attentionForward, attentionBackward, AttentionMask } from './functional/attention.js';
import { embedding as embeddingForward, embeddingBackward, positionalEmbeddingBackward } from './functional/embedding.js';
import { crossEntropy as crossEntropyForward, crossEntropyBackward } from './functional/cross_entropy.js';
import { dropout as dropoutForward, dropoutBackward } from './functional/dropout.js';

/** f32 for bf16 (a storage format: kernels read f32 copies of it), else the dtype itself. */
export const computeDtype = (dtype: DType): DType => (dtype === 'bf16' ? 'f32' : dtype);

/**
 * The dtype a parameter's gradient is computed in: f32 for bf16 weights, whose gradients would
 * otherwise be rounded to 8 bits of mantissa on their way to f32 masters; else the weight's own.
 */
export const paramGradDtype = (p: Tensor) => computeDtype(p.dtype);

/** y = x W + b (+ residual), x [N, K], W [K, M]. */
export function linear(tape: Tape, x: Var, w: Var, b: Var | null, residual: Var | null = null): Var {
  const y = matmul(x.value, w.value, { bias: b?.value, residual: residual?.value });
  const saved = [x.value.ref(), w.value.ref()];
  const inputs = [x, w, ...(b ? [b] : []), ...(residual ? [residual] : [])];
  return tape.record(y, inputs, (dy) => {
    const [xs, ws] = saved;
    const dx = matmul(dy, ws, { transB: true });
    const dw = matmul(xs, dy, { transA: true, outDtype: paramGradDtype(ws) });
    const grads: (Tensor | null)[] = [dx, dw];
    if (b) grads.push(reduce('sum', dy, 0, false, paramGradDtype(b.value)));
    if (residual) grads.push(dy.ref());
    return grads;
  }, saved);
}

export function layerNorm(tape: Tape, x: Var, w: Var, b: Var, eps = 1e-5): Var {
  const { y, mean, rstd } = layerNormForward(x.value, w.value, b.value, eps);
  const saved = [x.value.ref(), w.value.ref(), mean, rstd];
  return tape.record(y, [x, w, b], (dy) => {
    const { dx, dweight, dbias } = layerNormBackward(dy, saved[0], saved[1], saved[2], saved[3]);
    return [dx, dweight, dbias];
  }, saved);
}

export function gelu(tape: Tape, x: Var): Var {
  const saved = [x.value.ref()];
  return tape.record(geluForward(x.value), [x], (dy) => [geluBackward(dy, saved[0])], saved);
}

export function dropout(tape: Tape, x: Var, p: number, seed: number, offset: number): Var {
  if (p === 0 || !tape.enabled) return x;
  const rng = { seed, offset };
  return tape.record(dropoutForward(x.value, p, rng), [x], (dy) => [dropoutBackward(dy, p, rng)]);
}

/** Token plus position embeddings: table[ids[b, t]] + positions[t], ids [B, T] -> [B*T, C]. */
export function embedding(tape: Tape, table: Var, positions: Var, ids: Tensor): Var {
  const saved = [ids.ref()];
  const [rows, C] = table.value.shape;
  const maxPositions = positions.value.shape[0];
  const out = embeddingForward(table.value, ids, positions.value);
  const flat = out.reshape([ids.size, C]);
  out.dispose();
  return tape.record(flat, [table, positions], (dy) => {
    const d3 = dy.reshape([...saved[0].shape, C]);
    const grads = [embeddingBackward(d3, saved[0], rows), positionalEmbeddingBackward(d3, maxPositions)];
    d3.dispose();
    return grads;
  }, saved);
}

const bytesPer = (t: Tensor) => (t.dtype === 'f16' || t.dtype === 'bf16' ? 2 : 4);

/** What the kernels read: an f32 copy of a bf16 tensor, else another reference to it. */
const widened = (t: Tensor) => (t.dtype === 'bf16' ? cast(t, 'f32') : t.ref());

/**
 * Multi-head attention on the fused projection qkv [B*T, 3C] (laid out [B, T, 3, H, D]),
 * read in place as strided q, k, v views; returns o with the heads merged, [B*T, C] (laid out
 * [B, T, H, D]). The kernels write o, and in backward the fused gradient [B*T, 3C], straight
 * through strided views: no permuting copies. bf16 qkv, o and gradients are kept in bf16 and
 * widened to f32 copies around the kernels.
 */
export function attention(tape: Tape, qkv: Var, B: number, T: number, H: number, mask: AttentionMask, cache?: KvCache): Var {
  const C3 = qkv.value.shape[1];
  const C = C3 / 3, D = C / H;
  const gpu = qkv.value.gpu;
  const dtype = qkv.value.dtype;
  const source = widened(qkv.value);
  const [q, k, v] = headViews(source, [B, T, 3, H, D]);
  source.dispose();
  const merged = Tensor.empty(gpu, [B * T, C], computeDtype(qkv.value.dtype));
  const [out] = headViews(merged, [B, T, 1, H, D]);
  if (cache) {
    if (tape.enabled) throw new Error('the KV cache is for inference: disable the tape');
    cache.append(k, v);
    [k, v].forEach((t) => t.dispose());
    const { o, lse } = attentionForward(q, cache.k, cache.v, AttentionMask.causal(cache.length - T), undefined, { out });
    [q, out, o, lse].forEach((t) => t.dispose());
    return tape.record(narrow(merged, dtype), [], () => []);
  }
  const { o, lse } = attentionForward(q, k, v, mask, undefined, { out });
  [q, k, v, o, out].forEach((t) => t.dispose());
  const result = narrow(merged, dtype);
  const saved = [qkv.value.ref(), result.ref(), lse];
  return tape.record(result, [qkv], (dy) => {
    const [qkvW, oW, dyW] = [saved[0], saved[1], dy].map(widened);
    const [qs, ks, vs] = headViews(qkvW, [B, T, 3, H, D]);
    const [os] = headViews(oW, [B, T, 1, H, D]);
    const [dO] = headViews(dyW, [B, T, 1, H, D]);
    const dqkv = Tensor.empty(gpu, [B * T, C3], computeDtype(dy.dtype));
    const [dq, dk, dv] = headViews(dqkv, [B, T, 3, H, D]);
    const g = attentionBackward(dO, qs, ks, vs, os, saved[2], mask, undefined, { grads: { dq, dk, dv } });
    [qkvW, oW, dyW, qs, ks, vs, os, dO, dq, dk, dv, g.dq, g.dk, g.dv].forEach((t) => t.dispose());
    return [narrow(dqkv, dy.dtype)];
  }, saved);
}

/**
 * The per-head [B, H, T, D] views of x laid out as [B, T, parts, H, D] (parts = 3 for a fused qkv
 * projection or its gradient, 1 for merged heads): one view per part, no copies.
 */
export function headViews(x: Tensor, shape: [number, number, number, number, number]): Tensor[] {
  const fused = x.reshape(shape);
  const heads = fused.permute([2, 0, 3, 1, 4]);
  const views = Array.from({ length: shape[2] }, (_, i) => heads.select(0, i));
  [fused, heads].forEach((t) => t.dispose());
  return views;
}

/** Mean cross-entropy of `logits` [N, V] against `targets` [N] (u32), a one-element Var. */
export function crossEntropy(tape: Tape, logits: Var, targets: Tensor, ignoreIndex?: number): Var {
  const { loss, rowLoss, lse, count } = crossEntropyForward(logits.value, targets, { ignoreIndex });
  rowLoss.dispose();
  const saved = [logits.value.ref(), targets.ref(), lse, count];
  return tape.record(loss, [logits], (dloss) => {
    const [ls, ts, lse_, count_] = saved;
    // The logits are not needed after this, so their buffer takes the gradient.
    return [crossEntropyBackward(ls, ts, { lse: lse_, count: count_ }, dloss, { ignoreIndex, inPlace: true })];
  }, saved);
}

/** Keys and values of earlier positions for one layer, [1, H, maxLen, D] each (batch 1). */
export class KvCache {
  length = 0;
  readonly k: Tensor;
  readonly v: Tensor;

  constructor(gpu: Tensor['gpu'], heads: number, readonly maxLen: number, headDim: number, dtype: Tensor['dtype']) {
    this.k = Tensor.zeros(gpu, [1, heads, maxLen, headDim], dtype);
    this.v = Tensor.zeros(gpu, [1, heads, maxLen, headDim], dtype);
  }

  /** Appends k, v [1, H, T, D] (views) at the current length. */
  append(k: Tensor, v: Tensor): void {
    const [, H, T, D] = k.shape;
    if (this.length + T > this.maxLen) throw new ShapeError(`the KV cache holds ${this.maxLen} positions; ${this.length + T} needed`);
    const bytes = bytesPer(k);
    for (const [src, dst] of [[k, this.k], [v, this.v]] as const) {
      const dense = contiguous(src);
      for (let h = 0; h < H; h++) {
        src.gpu.copy(dense.buffer, h * T * D * bytes, dst.buffer, (h * this.maxLen + this.length) * D * bytes, T * D * bytes);
      }
      dense.dispose();
    }
    this.length += T;
  }

  dispose(): void {
    this.k.dispose();
    this.v.dispose();
  }
}
