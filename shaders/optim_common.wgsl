// Shared by the optimizer kernels (prepended by src/optim/kernels.ts; not a kernel itself).
// - The gradient is binding 2, `grad`: f32 or f16 storage (alias G), or packed bf16 pairs in u32
//   words (flag G_BF16, low half first), always widened to f32. `load_grad(i)` reads element i.
//   With flag VEC4 it is read 4 elements at a time instead: `load_grad4(i)` (i a multiple of 4) reads
//   elements i..i+3 with one vector load (vec4 of G, or 2 bf16 words), for kernels whose gradient
//   offset is a multiple of 4 and whose buffers hold whole vectors (see vec4Aligned in kernels.ts).
// - `store_low` writes the optional low-precision copy of updated weights: flag COPY_F16 (array<f16>)
//   or COPY_BF16 (packed u32 pairs, round to nearest even). The kernel declares `low` and a Params
//   field `oc` (the copy's element offset, even for bf16); callers pass pairs starting at an even index,
//   so a bf16 word is written whole by one thread, and a lone last element keeps its word's other half.
// - The optimizer control buffer, where a kernel binds it, is f32 words
//   [t (applied updates), grad norm, grad multiplier (1/loss scale times clip coefficient), skip, found_inf].

#if VEC4
#if G_BF16
@group(0) @binding(2) var<storage, read> grad: array<vec2<u32>>;
fn load_grad4(i: u32) -> vec4<f32> {
  let w = grad[i >> 2u];
  return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
}
#else
@group(0) @binding(2) var<storage, read> grad: array<vec4<G>>;
fn load_grad4(i: u32) -> vec4<f32> { return vec4<f32>(grad[i >> 2u]); }
#endif
#else
#if G_BF16
@group(0) @binding(2) var<storage, read> grad: array<u32>;
fn load_grad(i: u32) -> f32 { let w = grad[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }
#else
@group(0) @binding(2) var<storage, read> grad: array<G>;
fn load_grad(i: u32) -> f32 { return f32(grad[i]); }
#endif
#endif

const CTRL_T = 0u;
const CTRL_NORM = 1u;
const CTRL_MULT = 2u;
const CTRL_SKIP = 3u;
const CTRL_FOUND_INF = 4u;

fn bf16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return (u >> 16u) | 0x40u; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}

// Element i (even) and, when has_b, i + 1 of the low-precision copy.
fn store_low(i: u32, a: f32, b: f32, has_b: bool) {
#if COPY_F16
  low[p.oc + i] = f16(a);
  if (has_b) { low[p.oc + i + 1u] = f16(b); }
#endif
#if COPY_BF16
  let w = (p.oc + i) >> 1u;
  if (has_b) { low[w] = bf16_bits(a) | (bf16_bits(b) << 16u); } else { low[w] = (low[w] & 0xffff0000u) | bf16_bits(a); }
#endif
}

// 1 - e^x (x <= 0) for bias corrections 1 - beta^t = 1 - e^(t ln beta), with ln beta computed on the
// host in f64: f32 log/pow near 1 have only absolute accuracy (2^-21), far too coarse for 1 - 0.999^t.
// For small |x| a short series of -expm1(x) avoids the cancellation of 1 - exp(x).
fn one_minus_exp(x: f32) -> f32 {
  if (abs(x) < 0.1) { return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0)))); }
  return 1.0 - exp(x);
}
