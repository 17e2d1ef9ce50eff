import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { matmul, availableVariants, tensorCoreConfig, type MatmulOptions } from '../../src/tensor/matmul.js';
import type { SubgroupMatrixTile } from '../../shaders/gemm_subgroup_matrix.gen.js';
import { cast } from '../../src/tensor/ops.js';
import { OutOfMemoryError, ShapeError } from '../../src/errors.js';
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits, type DType } from '../../src/tensor/dtype.js';

const gpu = await testGpu();
const dtypes = gpu.caps.f16 ? (['f32', 'f16'] as const) : (['f32'] as const);
/** Tolerances for outputs stored in each dtype (inputs are rounded on the host first). */
const tol = { f32: 2e-5, f16: 4e-3, bf16: 2e-2 };

const held = (x: Float64Array, dtype: DType) =>
  x.map((v) => (dtype === 'f16' ? fromF16Bits(toF16Bits(v)) : dtype === 'bf16' ? fromBf16Bits(toBf16Bits(v)) : Math.fround(v)));

interface RefProblem { m: number; n: number; k: number; batch?: number; transA?: boolean; transB?: boolean; shareA?: boolean; shareB?: boolean }

/** op(A) * op(B) in f64, batches laid out one after another. */
function reference(a: ArrayLike<number>, b: ArrayLike<number>, p: RefProblem): Float64Array {
  const { m, n, k, batch = 1 } = p;
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = p.shareA ? 0 : z * m * k, bo = p.shareB ? 0 : z * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = a[ao + (p.transA ? q * m + i : i * k + q)];
          const bv = b[bo + (p.transB ? j * k + q : q * n + j)];
          s += av * bv;
        }
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Uploads random A and B for a problem and returns them with their held host values. */
function operands(p: RefProblem, dtype: DType, seed: number, dtypeB: DType = dtype) {
  const { m, n, k, batch = 1 } = p;
  const av = held(randn((p.shareA ? 1 : batch) * m * k, seed), dtype);
  const bv = held(randn((p.shareB ? 1 : batch) * k * n, seed + 1), dtypeB);
  const batchDims = batch > 1 ? [batch] : [];
  const shapeA = [...(p.shareA ? [] : batchDims), ...(p.transA ? [k, m] : [m, k])];
  const shapeB = [...(p.shareB ? [] : batchDims), ...(p.transB ? [n, k] : [k, n])];
  return { av, bv, a: Tensor.from(gpu, av, shapeA, dtype), b: Tensor.from(gpu, bv, shapeB, dtypeB) };
}

async function expectProduct(p: RefProblem, dtype: DType, opts: MatmulOptions = {}, seed = 1) {
  const { av, bv, a, b } = operands(p, dtype, seed);
  const c = matmul(a, b, { transA: p.transA, transB: p.transB, ...opts });
  const batchDims = (p.batch ?? 1) > 1 ? [p.batch!] : [];
  expect(c.shape).toEqual([...batchDims, p.m, p.n]);
  expect(c.dtype).toBe(opts.outDtype ?? dtype);
  // Absolute floor on the scale of a sum of k products of values in [-1, 1).
  const err = maxRelErr(await c.toArray(), reference(av, bv, p), 0.02 * Math.sqrt(p.k));
  expect(err, JSON.stringify({ ...p, dtype, tile: opts.tile })).toBeLessThan(tol[c.dtype as 'f32']);
  [a, b, c].forEach((t) => t.dispose());
}

for (const dtype of dtypes) {
  test(`awkward shapes match the f64 reference (${dtype})`, async () => {
    for (const [m, n, k] of [[1, 1, 1], [17, 33, 65], [129, 255, 63], [64, 68, 40]]) await expectProduct({ m, n, k }, dtype);
  });

  test(`both tiles of the tiled kernel handle edges, with and without 4-wide loads (${dtype})`, async () => {
    for (const tile of [{ bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 }, { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 }, { bm: 64, bn: 32, bk: 8, tm: 8, tn: 4 }]) {
      for (const [m, n, k] of [[129, 131, 37], [132, 136, 20]]) await expectProduct({ m, n, k }, dtype, { tile, variant: 'tiled' }, m + k);
    }
  });

  test(`transposed A and/or B, scalar and 4-wide (${dtype})`, async () => {
    for (const [transA, transB] of [[true, false], [false, true], [true, true]]) {
      for (const [m, n, k] of [[17, 33, 65], [36, 20, 44]]) await expectProduct({ m, n, k, transA, transB }, dtype, {}, 3);
    }
  });

  test(`batched, with B, A or neither shared across the batch (${dtype})`, async () => {
    for (const share of [{}, { shareB: true }, { shareA: true }]) await expectProduct({ m: 19, n: 23, k: 29, batch: 3, ...share }, dtype, {}, 5);
    await expectProduct({ m: 19, n: 23, k: 29, batch: 3, shareB: true, transB: true }, dtype, {}, 6);
  });
}

/**
 * A lower-triangular op(A) (m x k) for tiles of `bm` rows: zero above the diagonal up to the column
 * after each tile's last row, NaN past it (lowerTriangularA must never read there), as stored
 * (k x m when transposed); and the f64 product with B.
 */
function lowerTriangularCase(m: number, n: number, k: number, bm: number, transA: boolean, dtype: DType, seed: number) {
  const base = held(randn(m * k, seed), dtype), bv = held(randn(k * n, seed + 1), dtype);
  const av = new Float64Array(m * k);
  const want = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const end = Math.min(k, (Math.floor(i / bm) + 1) * bm);
    for (let q = 0; q < k; q++) {
      const x = q <= i ? base[i * k + q] : q < end ? 0 : NaN;
      av[transA ? q * m + i : i * k + q] = x;
      if (q <= i) for (let j = 0; j < n; j++) want[i * n + j] += x * bv[q * n + j];
    }
  }
  const a = Tensor.from(gpu, av, transA ? [k, m] : [m, k], dtype), b = Tensor.from(gpu, bv, [k, n], dtype);
  return { a, b, want };
}

for (const dtype of dtypes) {
  test(`lower-triangular A: each tile stops at its last row and reads nothing past it (${dtype})`, async () => {
    const tile = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
    for (const [m, n, k, transA] of [[150, 37, 170, false], [150, 37, 170, true], [70, 20, 40, false]] as const) {
      const { a, b, want } = lowerTriangularCase(m, n, k, tile.bm, transA, dtype, m + k);
      const c = matmul(a, b, { transA, lowerTriangularA: true, variant: 'tiled', tile, outDtype: 'f32' });
      expect(maxRelErr(await c.toArray(), want, 0.3), JSON.stringify({ m, n, k, transA })).toBeLessThan(tol[dtype]);
      [a, b, c].forEach((t) => t.dispose());
    }
  });
}

const tensorCore = tensorCoreConfig(gpu);
if (tensorCore) {
  test('lower-triangular A on tensor cores (the tile of attention\'s dQ product), plain and transposed', async () => {
    const tile: SubgroupMatrixTile = { bm: 64, bn: 64, bk: 32, sgM: 2, sgN: 2, pad: 8, stages: 2, sub: gpu.caps.subgroupMinSize, frag: tensorCore };
    for (const [m, n, k, transA] of [[136, 72, 168, false], [136, 72, 168, true]] as const) {
      const { a, b, want } = lowerTriangularCase(m, n, k, tile.bm, transA, 'f16', m + k);
      const c = matmul(a, b, { transA, lowerTriangularA: true, variant: 'subgroup-matrix', tile, outDtype: 'f32' });
      expect(maxRelErr(await c.toArray(), want, 0.3), JSON.stringify({ m, n, k, transA })).toBeLessThan(1e-4);
      [a, b, c].forEach((t) => t.dispose());
    }
  });
}

test('strided views are read in place: transposed views, row slices (lda > K), multi-dim batch', async () => {
  const [m, n, k] = [21, 18, 30];
  const big = randn(m * (k + 7), 11).map(Math.fround);
  const wide = Tensor.from(gpu, big, [m, k + 7]);
  const a = wide.slice(1, 3, 3 + k); // offset 3, lda = k + 7
  const bv = randn(n * k, 12).map(Math.fround);
  const bNK = Tensor.from(gpu, bv, [n, k]);
  const c = matmul(a, bNK.transpose()); // a [K, N] view of B^T: read as transposed, not copied
  const av = Array.from({ length: m * k }, (_, i) => big[Math.floor(i / k) * (k + 7) + 3 + (i % k)]);
  expect(maxRelErr(await c.toArray(), reference(av, bv, { m, n, k, transB: true }))).toBeLessThan(tol.f32);
  // [2, 3, M, K] with batch dimensions that collapse into one stride.
  const x = randn(2 * 3 * 5 * 4, 13).map(Math.fround), y = randn(4 * 6, 14).map(Math.fround);
  const out = matmul(Tensor.from(gpu, x, [2, 3, 5, 4]), Tensor.from(gpu, y, [4, 6]));
  expect(out.shape).toEqual([2, 3, 5, 6]);
  expect(maxRelErr(await out.toArray(), reference(x, y, { m: 5, n: 6, k: 4, batch: 6, shareB: true }))).toBeLessThan(tol.f32);
  // A view whose last two dimensions both have non-unit strides is copied first.
  const z = randn(3 * 4 * 5, 15).map(Math.fround), w = randn(4 * 2, 16).map(Math.fround);
  const base = Tensor.from(gpu, z, [3, 4, 5]);
  const view = base.permute([2, 0, 1]); // [5, 3, 4], strides [1, 20, 5]
  const viewed = Array.from({ length: 5 * 3 * 4 }, (_, i) => z[Math.floor(i / 4) % 3 * 20 + (i % 4) * 5 + Math.floor(i / 12)]);
  const prod = matmul(view, Tensor.from(gpu, w, [4, 2]));
  expect(maxRelErr(await prod.toArray(), reference(viewed, w, { m: 3, n: 2, k: 4, batch: 5, shareB: true }))).toBeLessThan(tol.f32);
  [wide, a, bNK, c, out, base, view, prod].forEach((t) => t.dispose());
});

// With a bias, N = 17 takes the element-by-element epilogue and N = 20 the vec4 one (VEC_EPI).
for (const n of [17, 20]) test(`alpha and beta accumulate into c in place, with and without a bias (N = ${n})`, async () => {
  const p = { m: 33, n, k: 9 };
  const { av, bv, a, b } = operands(p, 'f32', 21);
  const cv = randn(p.m * p.n, 22).map(Math.fround);
  const biasV = randn(p.n, 23).map(Math.fround);
  const c = Tensor.from(gpu, cv, [p.m, p.n]), bias = Tensor.from(gpu, biasV, [p.n]);
  const out = matmul(a, b, { c, alpha: 0.5, beta: -2, bias });
  expect(out).toBe(c);
  const ab = reference(av, bv, p);
  expect(maxRelErr(await c.toArray(), ab.map((v, i) => 0.5 * v - 2 * cv[i] + biasV[i % p.n]), 0.05)).toBeLessThan(tol.f32);
  matmul(a, b, { c }); // beta 0 overwrites
  expect(maxRelErr(await c.toArray(), ab)).toBeLessThan(tol.f32);
  // Into columns 1..n of a wider buffer: the offset is not a multiple of 4, so one at a time again.
  const wide = Tensor.zeros(gpu, [p.m, p.n + 4]);
  const view = wide.slice(1, 1, 1 + p.n);
  matmul(a, b, { c: view, beta: 1, bias });
  const all = await wide.toArray();
  const got = Array.from({ length: p.m * p.n }, (_, i) => all[Math.floor(i / p.n) * (p.n + 4) + 1 + (i % p.n)]);
  expect(maxRelErr(got, ab.map((v, i) => v + biasV[i % p.n]), 0.05)).toBeLessThan(tol.f32);
  expect(Array.from({ length: p.m }, (_, r) => [all[r * (p.n + 4)], ...all.slice(r * (p.n + 4) + 1 + p.n, (r + 1) * (p.n + 4))]).flat().every((v) => v === 0)).toBe(true);
  [a, b, c, bias, view, wide].forEach((t) => t.dispose());
});

for (const dtype of dtypes) {
  // N = 37 takes the element-by-element epilogue; N = 44 four outputs at a time (VEC_EPI).
  for (const n of [37, 44]) test(`bias + gelu + residual epilogue, residual batched and shared (N = ${n}, ${dtype})`, async () => {
    const p = { m: 13, n, k: 24, batch: 2, shareB: true };
    const { av, bv, a, b } = operands(p, dtype, 31);
    const biasV = held(randn(p.n, 32), dtype), resV = held(randn(2 * p.m * p.n, 33), dtype);
    const bias = Tensor.from(gpu, biasV, [p.n], dtype);
    const ab = reference(av, bv, p);
    for (const shared of [false, true]) {
      const residual = Tensor.from(gpu, shared ? resV.slice(0, p.m * p.n) : resV, shared ? [p.m, p.n] : [2, p.m, p.n], dtype);
      const out = matmul(a, b, { bias, activation: 'gelu', residual, alpha: 1.5 });
      const want = ab.map((v, i) => gelu(1.5 * v + biasV[i % p.n]) + resV[shared ? i % (p.m * p.n) : i]);
      expect(maxRelErr(await out.toArray(), want, 0.05)).toBeLessThan(tol[dtype] * 2);
      [residual, out].forEach((t) => t.dispose());
    }
    [a, b, bias].forEach((t) => t.dispose());
  });
}

test('bf16 storage: bf16 x bf16 -> bf16, f32 x bf16 weights -> f32, bf16 c with beta', async () => {
  const p = { m: 19, n: 26, k: 40 };
  const { av, bv, a, b } = operands(p, 'bf16', 41);
  const ab = reference(av, bv, p);
  const out = matmul(a, b);
  expect(out.dtype).toBe('bf16');
  expect(maxRelErr(await out.toArray(), ab, 0.05)).toBeLessThan(tol.bf16);
  const a32 = Tensor.from(gpu, av, [p.m, p.k], 'f32');
  const mixed = matmul(a32, b, { transB: false });
  expect(mixed.dtype).toBe('f32');
  expect(maxRelErr(await mixed.toArray(), ab)).toBeLessThan(tol.f32);
  const bT = cast(Tensor.from(gpu, bv, [p.k, p.n]), 'bf16');
  const cv = held(randn(p.m * p.n, 42), 'bf16');
  const c = Tensor.from(gpu, cv, [p.m, p.n], 'bf16');
  matmul(a, bT, { c, beta: 1, outDtype: 'bf16' });
  expect(maxRelErr(await c.toArray(), ab.map((v, i) => v + cv[i]), 0.05)).toBeLessThan(tol.bf16);
  const f32out = matmul(a, b, { outDtype: 'f32', variant: 'tiled', tile: { bm: 64, bn: 32, bk: 8, tm: 8, tn: 4 } });
  expect(maxRelErr(await f32out.toArray(), ab)).toBeLessThan(tol.f32);
  [a, b, out, a32, mixed, bT, c, f32out].forEach((t) => t.dispose());
});

if (gpu.caps.f16) {
  test('f16 inputs with f32 output keep the f32 accumulation', async () => {
    await expectProduct({ m: 40, n: 24, k: 300 }, 'f16', { outDtype: 'f32' }, 51);
  });
}

test('clear errors for mismatched shapes, wrong dtypes, bad options and oversize outputs', () => {
  const a = Tensor.zeros(gpu, [4, 5]), b = Tensor.zeros(gpu, [6, 7]), v = Tensor.zeros(gpu, [5]);
  const ints = Tensor.zeros(gpu, [4, 5], 'u32');
  expect(() => matmul(a, b)).toThrow(/inner dimensions must agree/);
  expect(() => matmul(a, b)).toThrow(ShapeError);
  expect(() => matmul(v, b)).toThrow(/rank >= 2/);
  expect(() => matmul(ints, Tensor.zeros(gpu, [5, 2]))).toThrow(/dtype u32/);
  const b57 = Tensor.zeros(gpu, [5, 7]);
  expect(() => matmul(a, b57, { beta: 1 })).toThrow(/beta needs/);
  expect(() => matmul(a, b57, { bias: Tensor.zeros(gpu, [6]) })).toThrow(/bias has shape \[6\], expected \[7\]/);
  expect(() => matmul(a, b57, { c: Tensor.zeros(gpu, [4, 6]) })).toThrow(/c has shape/);
  expect(() => matmul(a, b57, { residual: Tensor.zeros(gpu, [3, 7]) })).toThrow(/residual has shape/);
  expect(() => matmul(Tensor.zeros(gpu, [2, 4, 5]), Tensor.zeros(gpu, [3, 5, 7]))).toThrow(ShapeError);
  if (!availableVariants(gpu, 'f16').includes('subgroup-matrix')) {
    expect(() => matmul(a, b57, { variant: 'subgroup-matrix' })).toThrow(/subgroup-matrix kernel cannot run/);
  }
  // 65536 x 65536 f32 outputs need 16 GiB, over any adapter's largest binding.
  const col = Tensor.zeros(gpu, [65536, 1]), row = Tensor.zeros(gpu, [1, 65536]);
  expect(() => matmul(col, row)).toThrow(OutOfMemoryError);
  [a, b, v, ints, b57, col, row].forEach((t) => t.dispose());
});

test('few outputs over a long K are summed over K slices in parallel (split-K) and match the f64 reference', async () => {
  const [M, N, K] = [17, 33, 8192];
  for (const [transA, transB] of [[false, false], [true, false], [false, true]] as const) {
    const a = randn(M * K, 21), b = randn(K * N, 22);
    const ta = Tensor.from(gpu, a, transA ? [K, M] : [M, K]);
    const tb = Tensor.from(gpu, b, transB ? [N, K] : [K, N]);
    gpu.startProfile();
    const c = matmul(ta, tb, { transA, transB, alpha: 0.5 });
    const profile = await gpu.stopProfile();
    expect(profile.count.get('reduce'), 'the split-K path sums the slices').toBeGreaterThan(0);
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += (transA ? a[k * M + i] : a[i * K + k]) * (transB ? b[j * K + k] : b[k * N + j]);
      want[i * N + j] = 0.5 * acc;
    }
    expect(c.shape).toEqual([M, N]);
    // f32 sums of 8192 products: compare with the unsplit kernel's own rounding error.
    const whole = matmul(ta, tb, { transA, transB, alpha: 0.5, variant: 'tiled' });
    const unsplitErr = maxRelErr(await whole.toArray(), want, 1e-2);
    expect(maxRelErr(await c.toArray(), want, 1e-2)).toBeLessThan(Math.max(2 * unsplitErr, 1e-4));
    [ta, tb, c, whole].forEach((t) => t.dispose());
  }
});

if (gpu.caps.f16) {
  test('split-K with f16 operands stores its f32 column sum as f16 in one pass', async () => {
    const [M, N, K] = [9, 20, 8192];
    const a = held(randn(M * K, 23), 'f16'), b = held(randn(K * N, 24), 'f16');
    const ta = Tensor.from(gpu, a, [K, M], 'f16'), tb = Tensor.from(gpu, b, [K, N], 'f16');
    gpu.startProfile();
    const c = matmul(ta, tb, { transA: true });
    const profile = await gpu.stopProfile();
    expect(c.dtype).toBe('f16');
    expect(profile.count.get('reduce')).toBe(1);
    expect(profile.count.get('copy'), 'no separate cast').toBeUndefined();
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j] += a[k * M + i] * b[k * N + j];
    expect(maxRelErr(await c.toArray(), want, 1)).toBeLessThan(2e-3);
    [ta, tb, c].forEach((t) => t.dispose());
  });
}
