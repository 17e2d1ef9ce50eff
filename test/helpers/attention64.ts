// f64 attention reference for the kernel tests: materialised scores and softmax, the mask rule
// written out plainly, and the error measure the tests share.
import type { AttentionMaskOptions } from '../../src/nn/functional/attention.js';

export interface Case { b: number; h: number; tq: number; tk: number; d: number }
/** Query i of batch row b may attend key j (the rule of AttentionMaskOptions, written out plainly). */
export type Allowed = (b: number, i: number, j: number) => boolean;

export function allowedBy(c: Case, m: AttentionMaskOptions): Allowed {
  const arr = (x: unknown) => x as ArrayLike<number>;
  const offset = m.causalOffset ?? c.tk - c.tq;
  return (b, i, j) => {
    if (m.keyLen && j >= arr(m.keyLen)[b]) return false;
    if (m.causal && !(j <= i + offset || (m.prefixLen !== undefined && j < arr(m.prefixLen)[b]))) return false;
    if (m.segments) {
      const sq = arr(m.segments.q), sk = arr(m.segments.k ?? m.segments.q);
      if (sq[b * c.tq + i] !== sk[b * c.tk + j]) return false;
    }
    return true;
  };
}

/** Forward and analytic backward in f64 on contiguous [B, H, T, D] arrays. */
export function reference(c: Case, allowed: Allowed, scale: number, q: Float64Array, k: Float64Array, v: Float64Array, dO: Float64Array) {
  const { b: B, h: H, tq: Tq, tk: Tk, d: D } = c;
  const o = new Float64Array(B * H * Tq * D), lse = new Float64Array(B * H * Tq);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const qb = (b * H + h) * Tq, kb = (b * H + h) * Tk;
    for (let i = 0; i < Tq; i++) {
      const s = new Float64Array(Tk).fill(-Infinity);
      for (let j = 0; j < Tk; j++) {
        if (!allowed(b, i, j)) continue;
        let acc = 0;
        for (let x = 0; x < D; x++) acc += q[(qb + i) * D + x] * k[(kb + j) * D + x];
        s[j] = acc * scale;
      }
      const mx = Math.max(...s);
      if (mx === -Infinity) { lse[qb + i] = -Infinity; continue; }
      let sum = 0;
      for (let j = 0; j < Tk; j++) sum += Math.exp(s[j] - mx);
      lse[qb + i] = mx + Math.log(sum);
      const p = s.map((sj) => Math.exp(sj - mx) / sum);
      const row = (qb + i) * D;
      for (let j = 0; j < Tk; j++) for (let x = 0; x < D; x++) o[row + x] += p[j] * v[(kb + j) * D + x];
      let delta = 0;
      for (let x = 0; x < D; x++) delta += dO[row + x] * o[row + x];
      for (let j = 0; j < Tk; j++) {
        if (p[j] === 0) continue;
        let dp = 0;
        for (let x = 0; x < D; x++) dp += dO[row + x] * v[(kb + j) * D + x];
        const ds = p[j] * (dp - delta);
        for (let x = 0; x < D; x++) {
          dq[row + x] += scale * ds * k[(kb + j) * D + x];
          dk[(kb + j) * D + x] += scale * ds * q[row + x];
          dv[(kb + j) * D + x] += p[j] * dO[row + x];
        }
      }
    }
  }
  return { o, lse, dq, dk, dv };
}

/** max |a - b| over max |b| (and 1e-3, for all-zero references): one number per tensor. */
export function normErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0, mag = 1e-3;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    err = Number.isNaN(e) ? Infinity : Math.max(err, e);
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return err / mag;
}
