// One GPU per test worker, on whatever adapter exists (the CPU adapter in CI, SwiftShader in Chromium).
import { Gpu } from '../../src/gpu/device.js';
import { isBrowser, useTestPlatform } from './host.js';

/**
 * True when these tests run in headless Chromium (test/browser.test.ts), where the adapter is
 * SwiftShader and has no shader-f16. Slow test files may use smaller sizes there; never skip.
 */
export { isBrowser };

let shared: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  useTestPlatform();
  return (shared ??= Gpu.create());
}

/** Deterministic pseudo-random values in [-1, 1) (mulberry32). */
export function randn(n: number, seed = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Largest |a - b| / (|b| + atol), elementwise. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + atol);
    if (!(e <= m)) m = Number.isNaN(e) ? Infinity : e;
  }
  return m;
}
