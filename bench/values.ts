// Inputs shared by the kernel benchmarks.

/** Deterministic values k/64 with |k| <= 64: exact in f32, f16 and bf16, so host and GPU start from the same inputs. */
export function exactValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 16) % 129 - 64) / 64;
  }
  return out;
}
