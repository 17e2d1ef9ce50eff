import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { crossEntropy, crossEntropyBackward } from '../../src/nn/functional/cross_entropy.js';
import { InputError, ShapeError } from '../../src/errors.js';
import { finiteDifferenceError, held, floatDtypes } from './nn-gradcheck.js';

const gpu = await testGpu();
const dtypes = floatDtypes(gpu.caps.f16);
const IGNORE = 0xffffffff;

/** f64 reference: per-row losses, their mean over non-ignored rows, and d(mean)/dz. */
function ceRef(z: Float64Array, targets: number[], V: number, ignore = IGNORE, smoothing = 0) {
  const N = targets.length;
  const rowLoss = new Float64Array(N), grad = new Float64Array(N * V);
  const live = targets.filter((t) => t !== ignore).length;
  let total = 0;
  for (let r = 0; r < N; r++) {
    if (targets[r] === ignore) continue;
    const row = z.subarray(r * V, (r + 1) * V);
    const m = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    const meanZ = row.reduce((a, v) => a + v, 0) / V;
    rowLoss[r] = (1 - smoothing) * (lse - row[targets[r]]) + smoothing * (lse - meanZ);
    total += rowLoss[r];
    for (let j = 0; j < V; j++) {
      const q = (j === targets[r] ? 1 - smoothing : 0) + smoothing / V;
      grad[r * V + j] = (Math.exp(row[j] - lse) - q) / live;
    }
  }
  return { rowLoss, loss: live ? total / live : 0, grad };
}

test('the f64 reference cross-entropy gradient agrees with finite differences', () => {
  const V = 6, targets = [2, IGNORE, 5, 0];
  const z = randn(targets.length * V, 1).map((v) => 3 * v);
  for (const smoothing of [0, 0.2]) {
    const { grad } = ceRef(z, targets, V, IGNORE, smoothing);
    expect(finiteDifferenceError((v) => ceRef(v, targets, V, IGNORE, smoothing).loss, z, grad)).toBeLessThan(1e-6);
  }
});

for (const dtype of dtypes) {
  for (const [N, V] of [[7, 1000], [3, 50257]] as const) {
    test(`cross-entropy loss, mean and gradient match the f64 reference, [${N}, ${V}] ${dtype}`, async () => {
      const z = held(randn(N * V, N + V).map((v) => 4 * v), dtype);
      z[1] = held([dtype === 'f16' ? 60000 : 1e30], dtype)[0];   // an extreme logit must not overflow the softmax
      const targets = Array.from({ length: N }, (_, r) => (r === 1 ? IGNORE : (r * 7919 + 13) % V));
      const ref = ceRef(z, targets, V);
      const tz = Tensor.from(gpu, z, [N, V], dtype), tt = Tensor.from(gpu, targets, [N], 'u32');
      const out = crossEntropy(tz, tt);
      expect(out.loss.shape).toEqual([1]);
      expect(await out.count.item()).toBe(N - 1);
      expect(maxRelErr(await out.rowLoss.toArray(), ref.rowLoss, 1e-3)).toBeLessThan(1e-5);
      expect(maxRelErr([await out.loss.item()], [ref.loss])).toBeLessThan(1e-5);
      const dz = crossEntropyBackward(tz, tt, out, 2.5);
      expect(dz.dtype).toBe(dtype);
      // Gradients are ~1/(N V) per element; compare relative to the largest.
      const scale = ref.grad.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
      expect(maxRelErr(await dz.toArray(), ref.grad.map((g) => 2.5 * g), scale * 1e-2)).toBeLessThan({ f32: 1e-4, f16: 4e-3, bf16: 1.6e-2 }[dtype]);
      [tz, tt, out.loss, out.rowLoss, out.lse, out.count, dz].forEach((t) => t.dispose());
    });
  }

  // V = 36 takes the four-at-a-time path (VEC4), 33 the one-at-a-time path.
  for (const V of [33, 36]) test(`label smoothing, a configured ignore index, a GPU dloss, and the in-place gradient (V=${V}, ${dtype})`, async () => {
    const [N, ignore, smoothing] = [9, 7, 0.1];
    const z = held(randn(N * V, 5).map((v) => 2 * v), dtype);
    const targets = [3, 7, 0, 32, 7, 5, 6, 8, 1];
    const ref = ceRef(z, targets, V, ignore, smoothing);
    const tz = Tensor.from(gpu, z, [3, 3, V], dtype), tt = Tensor.from(gpu, targets, [3, 3], 'u32');
    const opts = { ignoreIndex: ignore, labelSmoothing: smoothing };
    const out = crossEntropy(tz, tt, opts);
    expect(out.rowLoss.shape).toEqual([3, 3]);
    expect(maxRelErr([await out.loss.item()], [ref.loss])).toBeLessThan({ f32: 1e-5, f16: 1e-3, bf16: 1e-3 }[dtype]);
    const scale = ref.grad.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
    const tol = { f32: 1e-4, f16: 4e-3, bf16: 1.6e-2 }[dtype];
    const dloss = Tensor.from(gpu, [0.5], [1]);   // the upstream gradient, on the GPU
    const viaTensor = crossEntropyBackward(tz, tt, out, dloss, opts);
    expect(maxRelErr(await viaTensor.toArray(), ref.grad.map((g) => 0.5 * g), scale * 1e-2)).toBeLessThan(tol);
    const dz = crossEntropyBackward(tz, tt, out, 0.5, { ...opts, inPlace: true });
    // bf16 logits are read through an f32 copy, which takes the gradient in place instead.
    if (dtype === 'bf16') expect(dz.buffer).not.toBe(tz.buffer);
    else expect(dz.buffer).toBe(tz.buffer);
    expect(maxRelErr(await dz.toArray(), ref.grad.map((g) => 0.5 * g), scale * 1e-2)).toBeLessThan(tol);
    [tz, tt, out.loss, out.rowLoss, out.lse, out.count, dloss, viaTensor, dz].forEach((t) => t.dispose());
  });
}

test('i32 targets with -1 are ignored like the default index; all-ignored gives loss 0 and zero gradient', async () => {
  const V = 10;
  const z = randn(3 * V, 9);
  const tz = Tensor.from(gpu, z, [3, V]);
  const ti = Tensor.from(gpu, [4, -1, 9], [3], 'i32');
  const out = crossEntropy(tz, ti, { ignoreIndex: -1 });
  const ref = ceRef(held(z, 'f32'), [4, IGNORE, 9], V);
  expect(maxRelErr([await out.loss.item()], [ref.loss])).toBeLessThan(1e-5);
  const none = Tensor.from(gpu, [IGNORE, IGNORE, IGNORE], [3], 'u32');
  const empty = crossEntropy(tz, none);
  expect(await empty.loss.item()).toBe(0);
  expect(await empty.count.item()).toBe(0);
  const dz = crossEntropyBackward(tz, none, empty, 1);
  expect(Array.from(await dz.toArray()).every((v) => v === 0)).toBe(true);
  [tz, ti, none, dz, ...Object.values(out), ...Object.values(empty)].forEach((t) => t.dispose());
});

test('an out-of-range target poisons its row loss with NaN; bad shapes and options are rejected', async () => {
  const tz = Tensor.from(gpu, randn(2 * 5, 3), [2, 5]);
  const bad = Tensor.from(gpu, [1, 5], [2], 'u32');
  const out = crossEntropy(tz, bad);
  const rows = await out.rowLoss.toArray();
  expect(Number.isFinite(rows[0])).toBe(true);
  expect(rows[1]).toBeNaN();
  expect(await out.loss.item()).toBeNaN();
  const short = Tensor.from(gpu, [1], [1], 'u32'), f = Tensor.zeros(gpu, [2]);
  expect(() => crossEntropy(tz, short)).toThrow(/targets .*must have shape \[2\]/);
  expect(() => crossEntropy(tz, f)).toThrow(ShapeError);
  expect(() => crossEntropy(tz, bad, { labelSmoothing: 1.5 })).toThrow(InputError);
  expect(() => crossEntropyBackward(tz, bad, { lse: f, count: f }, 1)).toThrow(/count/);
  const view = tz.slice(1, 0, 4);
  expect(() => crossEntropyBackward(view, bad, out, 1, { inPlace: true })).toThrow(/targets|inPlace/);
  [tz, bad, short, f, view, ...Object.values(out)].forEach((t) => t.dispose());
});
