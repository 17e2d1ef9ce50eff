// SGD with momentum (dampening 0) and L2 weight decay, with PyTorch's semantics:
//   d = grad * mult + wd p;  buf = momentum buf + d;  d = nesterov ? d + momentum buf : buf;  p -= lr d
// (flag MOMENTUM; without it d is used directly and `buf` is unused). mult and the skip flag come from
// the control buffer (optim_finalize.wgsl). Two elements per thread; parameter, gradient and copy are
// contiguous runs at element offsets op, og, oc; buf starts at 0.
// Spec: alias G or flag G_BF16; flags MOMENTUM, NESTEROV; flag COPY_F16 or COPY_BF16.

struct Params { n: u32, op: u32, og: u32, oc: u32, lr: f32, momentum: f32, wd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ctrl: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf: array<f32>;
#if COPY_F16
@group(0) @binding(5) var<storage, read_write> low: array<f16>;
#else
@group(0) @binding(5) var<storage, read_write> low: array<u32>;
#endif

fn update(k: u32, mult: f32) -> f32 {
  let w0 = param[p.op + k];
  var d = load_grad(p.og + k) * mult + p.wd * w0;
#if MOMENTUM
  let b = p.momentum * buf[k] + d;
  buf[k] = b;
#if NESTEROV
  d = d + p.momentum * b;
#else
  d = b;
#endif
#endif
  let w = w0 - p.lr * d;
  param[p.op + k] = w;
  return w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = 2u * (gid.x + gid.y * nwg.x * 256u);
  if (k >= p.n || ctrl[CTRL_SKIP] != 0.0) { return; }
  let mult = ctrl[CTRL_MULT];
  let a = update(k, mult);
  let has_b = k + 1u < p.n;
  var b = 0.0;
  if (has_b) { b = update(k + 1u, mult); }
  store_low(k, a, b, has_b);
}
