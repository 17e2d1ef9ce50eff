import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { layerNorm, layerNormBackward, normRowLayout, rmsNorm, rmsNormBackward } from '../../src/nn/functional/norm.js';
import { ShapeError } from '../../src/errors.js';
import { dot, finiteDifferenceError, held, floatDtypes } from './nn-gradcheck.js';

const gpu = await testGpu();
const dtypes = floatDtypes(gpu.caps.f16);

/** f64 reference: LayerNorm (bias given) or RMSNorm (bias null) over rows of width C. */
function normRef(x: Float64Array, w: Float64Array, b: Float64Array | null, C: number, eps: number) {
  const R = x.length / C;
  const y = new Float64Array(x.length), mean = new Float64Array(R), rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const row = x.subarray(r * C, (r + 1) * C);
    const m = b ? row.reduce((a, v) => a + v, 0) / C : 0;
    const v = row.reduce((a, xi) => a + (xi - m) ** 2, 0) / C;
    mean[r] = m; rstd[r] = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (row[c] - m) * rstd[r] * w[c] + (b ? b[c] : 0);
  }
  return { y, mean, rstd };
}

function normGradRef(dy: Float64Array, x: Float64Array, w: Float64Array, hasBias: boolean, C: number, eps: number) {
  const { mean, rstd } = normRef(x, w, hasBias ? new Float64Array(C) : null, C, eps);
  const R = x.length / C;
  const dx = new Float64Array(x.length), dw = new Float64Array(C), db = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    let sg = 0, sgx = 0;
    for (let c = 0; c < C; c++) {
      const g = dy[r * C + c] * w[c], xhat = (x[r * C + c] - mean[r]) * rstd[r];
      sg += g; sgx += g * xhat;
      dw[c] += dy[r * C + c] * xhat; db[c] += dy[r * C + c];
    }
    for (let c = 0; c < C; c++) {
      const g = dy[r * C + c] * w[c], xhat = (x[r * C + c] - mean[r]) * rstd[r];
      dx[r * C + c] = rstd[r] * (g - (hasBias ? sg / C : 0) - xhat * sgx / C);
    }
  }
  return { dx, dw, db };
}

test('the f64 reference norm gradients agree with finite differences', () => {
  const [R, C, eps] = [3, 7, 1e-5];
  const x = randn(R * C, 1), w = randn(C, 2).map((v) => v + 1.5), b = randn(C, 3), dy = randn(R * C, 4);
  for (const hasBias of [true, false]) {
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => dot(normRef(xx, ww, hasBias ? bb : null, C, eps).y, dy);
    const g = normGradRef(dy, x, w, hasBias, C, eps);
    expect(finiteDifferenceError((v) => loss(v, w, b), x, g.dx)).toBeLessThan(1e-6);
    expect(finiteDifferenceError((v) => loss(x, v, b), w, g.dw)).toBeLessThan(1e-6);
    if (hasBias) expect(finiteDifferenceError((v) => loss(x, w, v), b, g.db)).toBeLessThan(1e-6);
  }
});

/**
 * Shapes that reach every kernel path (see normRowLayout): elements or vec4s per unit, rows kept
 * in registers or re-read, one or several rows per workgroup with the last workgroup not full,
 * and rows whose unit count is not a multiple of the threads per row.
 */
const SHAPES = [[17, 33], [5, 769], [40, 3], [6, 1], [3, 2051], [37, 768], [11, 100], [2, 8192], [2, 8196]] as const;

test('the test shapes reach every FORWARD / BACKWARD_DX layout', () => {
  const seen = new Set<string>();
  for (const [R, C] of SHAPES) {
    const { vec4, threadsPerRow, residentSteps } = normRowLayout(C);
    const units = vec4 ? C / 4 : C;
    const rowsPerWorkgroup = 256 / threadsPerRow;
    seen.add(`${vec4 ? 'vec4' : 'scalar'} ${residentSteps ? 'resident' : 're-read'}`);
    if (rowsPerWorkgroup > 1 && R % rowsPerWorkgroup !== 0) seen.add(`${vec4 ? 'vec4' : 'scalar'} partial workgroup`);
    if (units % threadsPerRow !== 0) seen.add(`${vec4 ? 'vec4' : 'scalar'} ragged row`);
  }
  expect([...seen].sort()).toEqual(['resident', 're-read', 'partial workgroup', 'ragged row']
    .flatMap((what) => [`scalar ${what}`, `vec4 ${what}`]).sort());
  expect(normRowLayout(768)).toEqual({ vec4: true, threadsPerRow: 32, residentSteps: 6 });   // GPT-2
});

for (const dtype of dtypes) {
  for (const [R, C] of SHAPES) {
    for (const kind of ['layer', 'rms'] as const) {
      test(`${kind}Norm forward and backward match the f64 reference, [${R}, ${C}] ${dtype}`, async () => {
        const eps = 1e-5;
        const x = held(randn(R * C, R + C).map((v) => 3 * v + 0.5), dtype);
        const w = held(randn(C, 7).map((v) => v + 1), dtype), b = held(randn(C, 8), dtype);
        const dy = held(randn(R * C, 9), dtype);
        const shape = [R, 1, C];   // leading dimensions are flattened into rows
        const tx = Tensor.from(gpu, x, shape, dtype), tw = Tensor.from(gpu, w, [C], dtype), tb = Tensor.from(gpu, b, [C], dtype);
        const tdy = Tensor.from(gpu, dy, shape, dtype);
        const ref = normRef(x, w, kind === 'layer' ? b : null, C, eps);
        const grad = normGradRef(dy, x, w, kind === 'layer', C, eps);
        const tol = { f32: 2e-5, f16: 4e-3, bf16: 1.6e-2 }[dtype];
        const out: Tensor[] = [tx, tw, tb, tdy];
        if (kind === 'layer') {
          const { y, mean, rstd } = layerNorm(tx, tw, tb, eps);
          expect(y.shape).toEqual(shape);
          expect(mean.shape).toEqual([R, 1]);
          expect(maxRelErr(await mean.toArray(), ref.mean, 1e-2)).toBeLessThan(2e-5);
          expect(maxRelErr(await rstd.toArray(), ref.rstd, 1e-2)).toBeLessThan(2e-5);
          expect(maxRelErr(await y.toArray(), ref.y, 1e-1)).toBeLessThan(tol);
          const { dx, dweight, dbias } = layerNormBackward(tdy, tx, tw, mean, rstd);
          expect(maxRelErr(await dx.toArray(), grad.dx, 1e-1)).toBeLessThan(tol * 4);
          expect(maxRelErr(await dweight.toArray(), grad.dw, 1)).toBeLessThan(tol * 4);
          expect(maxRelErr(await dbias.toArray(), grad.db, 1)).toBeLessThan(tol * 4);
          out.push(y, mean, rstd, dx, dweight, dbias);
        } else {
          const { y, rstd } = rmsNorm(tx, tw, eps);
          expect(maxRelErr(await rstd.toArray(), ref.rstd, 1e-2)).toBeLessThan(2e-5);
          expect(maxRelErr(await y.toArray(), ref.y, 1e-1)).toBeLessThan(tol);
          const { dx, dweight } = rmsNormBackward(tdy, tx, tw, rstd);
          expect(maxRelErr(await dx.toArray(), grad.dx, 1e-1)).toBeLessThan(tol * 4);
          expect(maxRelErr(await dweight.toArray(), grad.dw, 1)).toBeLessThan(tol * 4);
          out.push(y, rstd, dx, dweight);
        }
        out.forEach((t) => t.dispose());
      });
    }
  }
}

test('f16 activations with f32 weights, and a strided input view', async () => {
  if (!gpu.caps.f16) return;
  const [R, C] = [9, 70];
  const x = held(randn(R * 2 * C, 3), 'f16'), w = randn(C, 4).map((v) => v + 1), b = randn(C, 5);
  const tx = Tensor.from(gpu, x, [R, 2 * C], 'f16');
  const view = tx.slice(1, C, 2 * C);   // second half of every row: not contiguous
  const tw = Tensor.from(gpu, w, [C]), tb = Tensor.from(gpu, b, [C]);
  const xs = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) xs[r * C + c] = x[r * 2 * C + C + c];
  const { y, mean, rstd } = layerNorm(view, tw, tb);
  expect(y.dtype).toBe('f16');
  expect(maxRelErr(await y.toArray(), normRef(xs, held(w, 'f32'), held(b, 'f32'), C, 1e-5).y, 1e-1)).toBeLessThan(4e-3);
  const { dweight } = layerNormBackward(y, view, tw, mean, rstd);
  expect(dweight.dtype).toBe('f32');
  [tx, view, tw, tb, y, mean, rstd, dweight].forEach((t) => t.dispose());
});

test.each([40, 39])('parameter gradients are right and bitwise reproducible over many row chunks, C = %i', async (C) => {
  const R = 600;
  const x = held(randn(R * C, 1), 'f32'), dy = held(randn(R * C, 2), 'f32'), w = held(randn(C, 3), 'f32');
  const tx = Tensor.from(gpu, x, [R, C]), tdy = Tensor.from(gpu, dy, [R, C]);
  const tw = Tensor.from(gpu, w, [C]), tb = Tensor.from(gpu, randn(C, 4), [C]);
  const want = normGradRef(dy, x, w, true, C, 1e-5);
  const { y, mean, rstd } = layerNorm(tx, tw, tb);
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const g = layerNormBackward(tdy, tx, tw, mean, rstd);
    runs.push([await g.dweight.toArray(), await g.dbias.toArray()]);
    [g.dx, g.dweight, g.dbias].forEach((t) => t.dispose());
  }
  expect(runs[0]).toEqual(runs[1]);
  expect(maxRelErr(runs[0][0], want.dw, 1)).toBeLessThan(1e-5);
  expect(maxRelErr(runs[0][1], want.db, 1)).toBeLessThan(1e-5);
  [tx, tdy, tw, tb, y, mean, rstd].forEach((t) => t.dispose());
});

test('norm shape and dtype errors are clear', () => {
  const x = Tensor.zeros(gpu, [4, 6]), w5 = Tensor.zeros(gpu, [5]), w6 = Tensor.zeros(gpu, [6]);
  const u = Tensor.zeros(gpu, [4, 6], 'u32'), stat = Tensor.zeros(gpu, [3]);
  expect(() => layerNorm(x, w5, w5)).toThrow(/weight .*must have shape \[6\]/);
  expect(() => rmsNorm(u, w6)).toThrow(ShapeError);
  expect(() => rmsNorm(x, w6, 0)).toThrow(/eps must be positive/);
  expect(() => layerNormBackward(x, x, w6, stat, stat)).toThrow(/mean .*must have shape \[4\]/);
  expect(() => rmsNormBackward(w6, x, w6, stat)).toThrow(/dy/);
  [x, w5, w6, u, stat].forEach((t) => t.dispose());
});
