import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { embedding, embeddingBackward, positionalEmbeddingBackward, sumBuckets } from '../../src/nn/functional/embedding.js';
import { ShapeError } from '../../src/errors.js';
import { dot, finiteDifferenceError, held, floatDtypes } from './nn-gradcheck.js';

const gpu = await testGpu();
const dtypes = floatDtypes(gpu.caps.f16);

/** f64 reference: wte[ids] + wpe[position along the last axis]. */
function embedRef(table: Float64Array, ids: number[], C: number, seq: number, pos?: Float64Array): Float64Array {
  const out = new Float64Array(ids.length * C);
  ids.forEach((id, n) => {
    for (let c = 0; c < C; c++) out[n * C + c] = table[id * C + c] + (pos ? pos[(n % seq) * C + c] : 0);
  });
  return out;
}

/** Gradient sums in ascending position order, rounding like the GPU's f32 accumulator when `f32` is set. */
function embedGradRef(dout: ArrayLike<number>, ids: number[], V: number, C: number, f32 = false): Float64Array {
  const round = f32 ? Math.fround : (v: number) => v;
  const dtable = new Float64Array(V * C);
  ids.forEach((id, n) => {
    if (id >= V) return;
    for (let c = 0; c < C; c++) dtable[id * C + c] = round(dtable[id * C + c] + dout[n * C + c]);
  });
  return dtable;
}

test('the f64 reference embedding gradients agree with finite differences', () => {
  const [V, C, seq] = [4, 3, 5];
  const ids = [1, 3, 1, 0, 1, 2, 2, 3, 1, 1];
  const table = randn(V * C, 1), pos = randn(seq * C, 2), r = randn(ids.length * C, 3);
  expect(finiteDifferenceError((t) => dot(embedRef(t, ids, C, seq, pos), r), table, embedGradRef(r, ids, V, C))).toBeLessThan(1e-6);
  const dpos = new Float64Array(seq * C);
  r.forEach((v, i) => { dpos[(Math.floor(i / C) % seq) * C + (i % C)] += v; });
  expect(finiteDifferenceError((q) => dot(embedRef(table, ids, C, seq, q), r), pos, dpos)).toBeLessThan(1e-6);
});

for (const dtype of dtypes) {
  for (const [V, C] of [[50, 33], [1000, 769]] as const) {
    test(`embedding gather (with and without positions) and backward match the reference, V=${V} C=${C} ${dtype}`, async () => {
      const [B, T, maxT] = [3, 7, 9];
      const ids = Array.from({ length: B * T }, (_, n) => (n * n * 31 + 7) % V);
      const table = held(randn(V * C, 1), dtype), pos = held(randn(maxT * C, 2), dtype);
      const dout = held(randn(B * T * C, 3), dtype);
      const tt = Tensor.from(gpu, table, [V, C], dtype), tp = Tensor.from(gpu, pos, [maxT, C], dtype);
      const ti = Tensor.from(gpu, ids, [B, T], 'u32'), td = Tensor.from(gpu, dout, [B, T, C], dtype);
      const plain = embedding(tt, ti);
      expect(plain.shape).toEqual([B, T, C]);
      expect(plain.dtype).toBe(dtype);
      expect(Array.from(await plain.toArray())).toEqual(Array.from(embedRef(table, ids, C, T)));
      const withPos = embedding(tt, ti, tp);
      expect(maxRelErr(await withPos.toArray(), embedRef(table, ids, C, T, pos), 1e-2)).toBeLessThan({ f32: 1e-6, f16: 1e-3, bf16: 4e-3 }[dtype]);
      const dtable = embeddingBackward(td, ti, V);
      expect(dtable.shape).toEqual([V, C]);
      expect(dtable.dtype).toBe('f32');
      expect(maxRelErr(await dtable.toArray(), embedGradRef(dout, ids, V, C), 1e-2)).toBeLessThan(1e-5);
      const dpos = positionalEmbeddingBackward(td, maxT);
      const wantPos = new Float64Array(maxT * C);
      dout.forEach((v, i) => { wantPos[(Math.floor(i / C) % T) * C + (i % C)] += v; });
      expect(maxRelErr(await dpos.toArray(), wantPos, 1e-2)).toBeLessThan(1e-5);
      [tt, tp, ti, td, plain, withPos, dtable, dpos].forEach((t) => t.dispose());
    });
  }
}

test('backward sums every id in ascending position order (exactly), with buckets larger than a workgroup', async () => {
  // (n^2 + 3n) % 5 takes the values 0, 3 (600 times each) and 4 (300 times): buckets so large
  // that each sort step needs several passes of the 256 threads.
  const [V, C, N] = [7, 5, 1500];
  const ids = Array.from({ length: N }, (_, n) => (n * n + 3 * n) % 5);
  ids[17] = 6;   // an id used once
  ids[18] = 1000; // out of range: skipped
  const dout = held(randn(N * C, 4).map((v) => v * 1e3), 'f32');
  const td = Tensor.from(gpu, dout, [N, C]), ti = Tensor.from(gpu, ids, [N], 'u32');
  const want = Array.from(embedGradRef(dout, ids, V, C, true));
  for (let run = 0; run < 2; run++) {
    const dtable = embeddingBackward(td, ti, V);
    expect(Array.from(await dtable.toArray())).toEqual(want);
    dtable.dispose();
  }
  [td, ti].forEach((t) => t.dispose());
});

test('an out-of-range id gives a NaN row; shape and dtype errors are clear', async () => {
  const tt = Tensor.from(gpu, randn(4 * 3, 5), [4, 3]);
  const ti = Tensor.from(gpu, [1, 4], [2], 'u32');
  const out = await embedding(tt, ti).toArray();
  expect(Array.from(out.slice(0, 3)).every(Number.isFinite)).toBe(true);
  expect(Array.from(out.slice(3)).every(Number.isNaN)).toBe(true);
  const fids = Tensor.zeros(gpu, [2]), d = Tensor.zeros(gpu, [2, 4]), pos = Tensor.zeros(gpu, [1, 3]);
  expect(() => embedding(tt, fids)).toThrow(/ids must be u32/);
  expect(() => embedding(tt, ti, pos)).toThrow(/maxPositions >= 2/);
  expect(() => embeddingBackward(d, ti, 0)).toThrow(/vocab must be a positive integer/);
  expect(() => embeddingBackward(tt, ti, 4)).toThrow(/dout must be \[2, C\]/);
  expect(() => positionalEmbeddingBackward(d, 1)).toThrow(ShapeError);
  [tt, ti, fids, d, pos].forEach((t) => t.dispose());
});

test('the bucket sum sorts positions given in any order, so its result never depends on atomics', async () => {
  // Buckets: id 0 <- 5 positions, id 1 <- none, id 2 <- 600 positions (several passes per sort step).
  const [C, N] = [3, 605];
  const dout = held(randn(N * C, 6).map((v) => v * 1e4), 'f32');
  const bucket0 = [4, 0, 3, 1, 2];
  const bucket2 = Array.from({ length: 600 }, (_, j) => 5 + ((j * 337) % 600));   // a scrambled permutation
  const starts = Tensor.from(gpu, [0, 5, 5, 605], [4], 'u32');
  const order = Tensor.from(gpu, [...bucket0, ...bucket2], [N], 'u32');
  const td = Tensor.from(gpu, dout, [N, C]);
  const dtable = sumBuckets(td, starts, order);
  const want = new Float64Array(3 * C);
  for (let n = 0; n < N; n++) {
    const id = n < 5 ? 0 : 2;
    for (let c = 0; c < C; c++) want[id * C + c] = Math.fround(want[id * C + c] + dout[n * C + c]);
  }
  expect(Array.from(await dtable.toArray())).toEqual(Array.from(want));
  expect(Array.from(await order.toArray())).toEqual(Array.from({ length: N }, (_, n) => n));
  [starts, order, td, dtable].forEach((t) => t.dispose());
});
