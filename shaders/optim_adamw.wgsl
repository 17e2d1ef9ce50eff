// AdamW (Loshchilov & Hutter 2019) on f32 master weights, with PyTorch's semantics:
//   g = grad * mult;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// t (applied updates), mult (1/loss scale times the clip coefficient) and the skip flag are read from
// the control buffer (see optim_finalize.wgsl), so nothing crosses to the host. omb1 = 1 - b1,
// omb2 = 1 - b2, ln_b1 = ln b1, ln_b2 = ln b2, all from f64. Parameter, gradient and copy are
// contiguous runs at element offsets op, og, oc; m and v start at 0.
// Each thread updates two consecutive elements with scalar loads, or with flag VEC4 (op and og
// multiples of 4, see vec4Aligned in kernels.ts) four, with one vector load and store each of param,
// m and v and a vector load of the gradient; the last thread loads a partial run whole and stores
// only its elements below n. Either way every element goes through `adam` (same f32 arithmetic), and
// the copy is written by store_low in pairs starting at even elements (so at any f16 copy offset).
// Spec: alias G or flag G_BF16 (gradient storage); flag COPY_F16 or COPY_BF16 (low-precision copy);
// flag VEC4.

struct Params { n: u32, op: u32, og: u32, oc: u32, lr: f32, b1: f32, b2: f32, omb1: f32, omb2: f32, eps: f32, wd: f32, ln_b1: f32, ln_b2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ctrl: array<f32>;
#if VEC4
@group(0) @binding(3) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
#else
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
#endif
#if COPY_F16
@group(0) @binding(6) var<storage, read_write> low: array<f16>;
#else
@group(0) @binding(6) var<storage, read_write> low: array<u32>;
#endif

// One element: (new weight, m, v) from the old weight, the multiplied gradient and the old m and v.
fn adam(w0: f32, g: f32, m0: f32, v0: f32, step_size: f32, bc2_sqrt: f32) -> vec3<f32> {
  let mk = p.b1 * m0 + p.omb1 * g;
  let vk = p.b2 * v0 + p.omb2 * g * g;
  let w = w0 * (1.0 - p.lr * p.wd) - step_size * mk / (sqrt(vk) / bc2_sqrt + p.eps);
  return vec3<f32>(w, mk, vk);
}

#if VEC4
// Elements k..k+3 (k = 4j): vector loads and stores; a partial last run stores only elements below n.
fn update4(j: u32, k: u32, mult: f32, step_size: f32, bc2_sqrt: f32) {
  let jp = (p.op >> 2u) + j;
  let g = load_grad4(p.og + k) * mult;
  let w0 = param[jp];
  let m0 = m[j];
  let v0 = v[j];
  let e0 = adam(w0.x, g.x, m0.x, v0.x, step_size, bc2_sqrt);
  let e1 = adam(w0.y, g.y, m0.y, v0.y, step_size, bc2_sqrt);
  let e2 = adam(w0.z, g.z, m0.z, v0.z, step_size, bc2_sqrt);
  let e3 = adam(w0.w, g.w, m0.w, v0.w, step_size, bc2_sqrt);
  let w = vec4<f32>(e0.x, e1.x, e2.x, e3.x);
  let mk = vec4<f32>(e0.y, e1.y, e2.y, e3.y);
  let vk = vec4<f32>(e0.z, e1.z, e2.z, e3.z);
  if (k + 4u <= p.n) {
    param[jp] = w;
    m[j] = mk;
    v[j] = vk;
  } else {
    for (var c = 0u; c < p.n - k; c++) { param[jp][c] = w[c]; m[j][c] = mk[c]; v[j][c] = vk[c]; }
  }
  store_low(k, w.x, w.y, k + 1u < p.n);
  if (k + 2u < p.n) { store_low(k + 2u, w.z, w.w, k + 3u < p.n); }
}
#else
fn update(k: u32, mult: f32, step_size: f32, bc2_sqrt: f32) -> f32 {
  let e = adam(param[p.op + k], load_grad(p.og + k) * mult, m[k], v[k], step_size, bc2_sqrt);
  param[p.op + k] = e.x;
  m[k] = e.y;
  v[k] = e.z;
  return e.x;
}
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 256u;
#if VEC4
  let k = 4u * j;
#else
  let k = 2u * j;
#endif
  if (k >= p.n || ctrl[CTRL_SKIP] != 0.0) { return; }
  let t = ctrl[CTRL_T];
  let mult = ctrl[CTRL_MULT];
  let step_size = p.lr / one_minus_exp(t * p.ln_b1);
  let bc2_sqrt = sqrt(one_minus_exp(t * p.ln_b2));
#if VEC4
  update4(j, k, mult, step_size, bc2_sqrt);
#else
  let a = update(k, mult, step_size, bc2_sqrt);
  let has_b = k + 1u < p.n;
  var b = 0.0;
  if (has_b) { b = update(k + 1u, mult, step_size, bc2_sqrt); }
  store_low(k, a, b, has_b);
#endif
}
