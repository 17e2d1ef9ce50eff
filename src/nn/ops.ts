// Differentiable ops: each runs the forward kernels now and records on the tape how to
// map its output gradient to its inputs' gradients (the backward kernels).
import { Tape, Var } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { contiguous, reduce } from '../tensor/ops.js';
import { matmul } from '../tensor/matmul.js';
import { layerNorm as layerNormForward, layerNormBackward } from './functional/norm.js';
import { gelu as geluForward, geluBackward } from './functional/activation.js';
import { attentionForward, attentionBackward, type AttentionMask } from './functional/attention.js';
import { embeddingForward, embeddingBackward } from './functional/embedding.js';
import { crossEntropyForward, crossEntropyBackward } from './functional/cross_entropy.js';
import { dropoutForward, dropoutBackward } from './functional/dropout.js';

/** y = x W + b (+ residual), x [N, K], W [K, M]. */
export function linear(tape: Tape, x: Var, w: Var, b: Var | null, residual: Var | null = null): Var {
  const y = matmul(x.value, w.value, { bias: b?.value, residual: residual?.value });
  const saved = [x.value.ref(), w.value.ref()];
  const inputs = [x, w, ...(b ? [b] : []), ...(residual ? [residual] : [])];
  return tape.record(y, inputs, (dy) => {
    const [xs, ws] = saved;
    const dx = matmul(dy, ws, { transB: true });
    const dw = matmul(xs, dy, { transA: true });
    const grads: (Tensor | null)[] = [dx, dw];
    if (b) grads.push(reduce('sum', dy, 0));
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
  return tape.record(dropoutForward(x.value, p, seed, offset), [x], (dy) => [dropoutBackward(dy, p, seed, offset)]);
}

/** Rows of `table` [V, C] picked by `ids` [N] -> [N, C]. */
export function embedding(tape: Tape, table: Var, ids: Tensor): Var {
  const saved = [ids.ref()];
  const rows = table.value.shape[0];
  return tape.record(embeddingForward(table.value, ids), [table], (dy) => [embeddingBackward(dy, saved[0], rows)], saved);
}

/** Splits a contiguous [3, ...rest] tensor into three contiguous [...rest] tensors (buffer copies). */
function split3(x: Tensor): Tensor[] {
  const rest = x.shape.slice(1);
  const bytes = (x.size / 3) * bytesPer(x);
  return [0, 1, 2].map((i) => {
    const part = Tensor.empty(x.gpu, rest, x.dtype);
    x.gpu.copy(x.buffer, (x.offset * bytesPer(x)) + i * bytes, part.buffer, 0, bytes);
    return part;
  });
}

const bytesPer = (t: Tensor) => (t.dtype === 'f16' || t.dtype === 'bf16' ? 2 : 4);

/** Multi-head attention on fused q/k/v, qkv [3, B, H, T, D] -> o [B, H, T, D]. */
export function attention(tape: Tape, qkv: Var, mask: AttentionMask): Var {
  const [q, k, v] = split3(qkv.value);
  const { o, lse } = attentionForward(q, k, v, mask);
  const saved = [q, k, v, o.ref(), lse];
  return tape.record(o, [qkv], (dO) => {
    const [qs, ks, vs, os, ls] = saved;
    const grads = attentionBackward(dO, qs, ks, vs, os, ls, mask);
    const dqkv = Tensor.empty(dO.gpu, qkv.value.shape, dO.dtype);
    const bytes = qs.size * bytesPer(qs);
    [grads.dq, grads.dk, grads.dv].forEach((g, i) => {
      dO.gpu.copy(g.buffer, 0, dqkv.buffer, i * bytes, bytes);
      g.dispose();
    });
    return [dqkv];
  }, saved);
}

/** Mean cross-entropy of `logits` [N, V] against `targets` [N] (u32), a one-element Var. */
export function crossEntropy(tape: Tape, logits: Var, targets: Tensor, ignoreIndex?: number): Var {
  const { loss } = crossEntropyForward(logits.value, targets, { ignoreIndex });
  const saved = [logits.value.ref(), targets.ref()];
  return tape.record(loss, [logits], (dloss) => [crossEntropyBackward(saved[0], saved[1], dloss, { ignoreIndex })], saved);
}

/** A contiguous copy of a permuted view (the copy's gradient permutes back). */
export function permute(tape: Tape, x: Var, order: number[]): Var {
  const view = x.value.permute(order);
  const out = contiguous(view);
  view.dispose();
  const inverse = order.map((_, i) => order.indexOf(i));
  return tape.record(out, [x], (dy) => {
    const v = dy.permute(inverse);
    const dx = contiguous(v);
    v.dispose();
    return [dx];
  });
}

/** Same data, new shape (a view; the gradient is reshaped back). */
export function reshape(tape: Tape, x: Var, shape: number[]): Var {
  const old = [...x.value.shape];
  return tape.record(x.value.reshape(shape), [x], (dy) => [dy.reshape(old)]);
}

