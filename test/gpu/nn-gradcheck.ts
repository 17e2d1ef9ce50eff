// Shared by the nn kernel tests: values as the GPU holds them, and a finite-difference
// check that the f64 reference gradients the GPU is compared against are themselves right.
import { fromBf16Bits, fromF16Bits, toBf16Bits, toF16Bits } from '../../src/tensor/dtype.js';
import { randn } from '../helpers/gpu.js';

export type FloatDtype = 'f32' | 'f16' | 'bf16';

/** Every float dtype the adapter can store: bf16 (read through f32 copies) always, f16 with shader-f16. */
export const floatDtypes = (f16: boolean): FloatDtype[] => (f16 ? ['f32', 'f16', 'bf16'] : ['f32', 'bf16']);

/** Values rounded to the storage dtype, so CPU references start from the GPU's inputs. */
export const held = (x: ArrayLike<number>, dtype: FloatDtype): Float64Array =>
  Float64Array.from(x, (v) => (dtype === 'f16' ? fromF16Bits(toF16Bits(v)) : dtype === 'bf16' ? fromBf16Bits(toBf16Bits(v)) : Math.fround(v)));

/**
 * Relative error between the analytic directional derivative grad . v and the central
 * difference (f(x + h v) - f(x - h v)) / 2h, worst over a few random directions v.
 */
export function finiteDifferenceError(f: (x: Float64Array) => number, x: Float64Array, grad: ArrayLike<number>, seed = 1): number {
  const h = 1e-6;
  let worst = 0;
  for (let k = 0; k < 3; k++) {
    const v = randn(x.length, seed * 31 + k);
    const plus = x.map((xi, i) => xi + h * v[i]);
    const minus = x.map((xi, i) => xi - h * v[i]);
    const numeric = (f(plus) - f(minus)) / (2 * h);
    let analytic = 0;
    for (let i = 0; i < x.length; i++) analytic += grad[i] * v[i];
    worst = Math.max(worst, Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-3));
  }
  return worst;
}

/** sum_i y_i * r_i: a scalar loss whose gradient with respect to y is r. */
export const dot = (y: ArrayLike<number>, r: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
};
