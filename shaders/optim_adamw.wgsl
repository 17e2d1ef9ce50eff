// AdamW (Loshchilov & Hutter 2019) on f32 master weights, with PyTorch's semantics:
//   g = grad * mult;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// t (applied updates), mult (1/loss scale times the clip coefficient) and the skip flag are read from
// the control buffer (see optim_finalize.wgsl), so nothing crosses to the host. Each thread updates
// two consecutive elements. omb1 = 1 - b1, omb2 = 1 - b2, ln_b1 = ln b1, ln_b2 = ln b2, all from f64. Parameter, gradient and copy are contiguous runs at element offsets
// op, og, oc; m and v start at 0.
// Spec: alias G or flag G_BF16 (gradient storage); flag COPY_F16 or COPY_BF16 (low-precision copy).

struct Params { n: u32, op: u32, og: u32, oc: u32, lr: f32, b1: f32, b2: f32, omb1: f32, omb2: f32, eps: f32, wd: f32, ln_b1: f32, ln_b2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ctrl: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
#if COPY_F16
@group(0) @binding(6) var<storage, read_write> low: array<f16>;
#else
@group(0) @binding(6) var<storage, read_write> low: array<u32>;
#endif

fn update(k: u32, mult: f32, step_size: f32, bc2_sqrt: f32) -> f32 {
  let g = load_grad(p.og + k) * mult;
  let mk = p.b1 * m[k] + p.omb1 * g;
  let vk = p.b2 * v[k] + p.omb2 * g * g;
  m[k] = mk;
  v[k] = vk;
  let w = param[p.op + k] * (1.0 - p.lr * p.wd) - step_size * mk / (sqrt(vk) / bc2_sqrt + p.eps);
  param[p.op + k] = w;
  return w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = 2u * (gid.x + gid.y * nwg.x * 256u);
  if (k >= p.n || ctrl[CTRL_SKIP] != 0.0) { return; }
  let t = ctrl[CTRL_T];
  let mult = ctrl[CTRL_MULT];
  let step_size = p.lr / one_minus_exp(t * p.ln_b1);
  let bc2_sqrt = sqrt(one_minus_exp(t * p.ln_b2));
  let a = update(k, mult, step_size, bc2_sqrt);
  let has_b = k + 1u < p.n;
  var b = 0.0;
  if (has_b) { b = update(k + 1u, mult, step_size, bc2_sqrt); }
  store_low(k, a, b, has_b);
}
