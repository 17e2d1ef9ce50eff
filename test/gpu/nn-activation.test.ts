import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { gelu, geluBackward, swiglu, swigluBackward } from '../../src/nn/functional/activation.js';
import { ShapeError } from '../../src/errors.js';
import { dot, finiteDifferenceError, held, floatDtypes } from './nn-gradcheck.js';

const gpu = await testGpu();
const dtypes = floatDtypes(gpu.caps.f16);
const K = Math.sqrt(2 / Math.PI);

const geluRef = (x: number) => 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x ** 3)));
const geluGradRef = (x: number) => {
  const t = Math.tanh(K * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
};
const sigmoid = (g: number) => 1 / (1 + Math.exp(-g));

function swigluRef(x: Float64Array, F: number): Float64Array {
  const R = x.length / (2 * F);
  const y = new Float64Array(R * F);
  for (let r = 0; r < R; r++) for (let f = 0; f < F; f++) {
    const g = x[r * 2 * F + f];
    y[r * F + f] = g * sigmoid(g) * x[r * 2 * F + F + f];
  }
  return y;
}

function swigluGradRef(dy: Float64Array, x: Float64Array, F: number): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < dy.length; i++) {
    const gi = Math.floor(i / F) * 2 * F + (i % F);
    const g = x[gi], up = x[gi + F], s = sigmoid(g);
    dx[gi] = dy[i] * up * s * (1 + g * (1 - s));
    dx[gi + F] = dy[i] * g * s;
  }
  return dx;
}

test('the f64 reference activation gradients agree with finite differences', () => {
  const x = randn(2 * 2 * 5, 1).map((v) => 3 * v), dy = randn(2 * 5, 2);
  expect(finiteDifferenceError((v) => dot(swigluRef(v, 5), dy), x, swigluGradRef(dy, x, 5))).toBeLessThan(1e-6);
  const r = randn(x.length, 3);
  expect(finiteDifferenceError((v) => dot(v.map(geluRef), r), x, x.map((v, i) => r[i] * geluGradRef(v)))).toBeLessThan(1e-6);
});

for (const dtype of dtypes) {
  const tol = { f32: 1e-5, f16: 3e-3, bf16: 1.2e-2 }[dtype];

  // 77 columns: one element per thread; 76: four per thread (VEC4).
  for (const cols of [77, 76]) test(`gelu forward and backward match the f64 reference, including saturated inputs ([3, 5, ${cols}] ${dtype})`, async () => {
    const n = 3 * 5 * cols;
    const x = held([...randn(n - 4, 4).map((v) => 4 * v), -30, -9, 9, 30], dtype);
    const dy = held(randn(n, 5), dtype);
    const tx = Tensor.from(gpu, x, [3, 5, cols], dtype), tdy = Tensor.from(gpu, dy, [3, 5, cols], dtype);
    const y = gelu(tx), dx = geluBackward(tdy, tx);
    expect(y.shape).toEqual([3, 5, cols]);
    expect(maxRelErr(await y.toArray(), x.map(geluRef), 1e-2)).toBeLessThan(tol * 4);
    expect(maxRelErr(await dx.toArray(), x.map((v, i) => dy[i] * geluGradRef(v)), 1e-2)).toBeLessThan(tol * 4);
    [tx, tdy, y, dx].forEach((t) => t.dispose());
  });

  test(`swiglu forward and backward match the f64 reference on [17, 2x33] (${dtype})`, async () => {
    const [R, F] = [17, 33];
    const x = held([...randn(R * 2 * F - 2, 6).map((v) => 5 * v), -40, 40], dtype);
    const dy = held(randn(R * F, 7), dtype);
    const tx = Tensor.from(gpu, x, [R, 2 * F], dtype), tdy = Tensor.from(gpu, dy, [R, F], dtype);
    const y = swiglu(tx);
    expect(y.shape).toEqual([R, F]);
    expect(maxRelErr(await y.toArray(), swigluRef(x, F), 1e-2)).toBeLessThan(tol * 4);
    const dx = swigluBackward(tdy, tx);
    expect(dx.shape).toEqual([R, 2 * F]);
    expect(maxRelErr(await dx.toArray(), swigluGradRef(dy, x, F), 1e-2)).toBeLessThan(tol * 8);
    [tx, tdy, y, dx].forEach((t) => t.dispose());
  });
}

test('activations read strided views', async () => {
  const x = randn(6 * 10, 8);
  const t = Tensor.from(gpu, x, [6, 10]);
  const v = t.transpose();   // [10, 6]
  const y = gelu(v);
  const want: number[] = [];
  for (let j = 0; j < 10; j++) for (let i = 0; i < 6; i++) want.push(geluRef(Math.fround(x[i * 10 + j])));
  expect(maxRelErr(await y.toArray(), want, 1e-2)).toBeLessThan(1e-5);
  [t, v, y].forEach((z) => z.dispose());
});

test('activation shape and dtype errors are clear', () => {
  const odd = Tensor.zeros(gpu, [3, 5]), even = Tensor.zeros(gpu, [3, 4]), u = Tensor.zeros(gpu, [4], 'u32');
  expect(() => swiglu(odd)).toThrow(/\[\.\.\., 2F\]/);
  expect(() => swigluBackward(even, even)).toThrow(/dy .*must have shape \[3,2\]/);
  expect(() => gelu(u)).toThrow(ShapeError);
  expect(() => geluBackward(odd, even)).toThrow(/must have shape \[3,4\]/);
  [odd, even, u].forEach((t) => t.dispose());
});
