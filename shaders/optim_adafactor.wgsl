// AdaFactor (Shazeer & Stern 2018) with the semantics of HF transformers' Adafactor, for one parameter
// seen as `batches` matrices of rows x cols (a vector is 1 x n, unfactored). With g = grad * mult:
//   beta2t = 1 - t^decay (decay = -0.8)
//   factored:   row = beta2t row + (1 - beta2t) mean_j(g^2 + eps1)     (per batch and row, O(rows) state)
//               col = beta2t col + (1 - beta2t) mean_i(g^2 + eps1)     (per batch and column, O(cols) state)
//               u = g / sqrt(row_i / mean(row)) / sqrt(col_j)
//   unfactored: v = beta2t v + (1 - beta2t) (g^2 + eps1);  u = g / sqrt(v)
//   lr' = (relative ? min(1e-2, 1/sqrt(t)) : lr) * (scale_param ? max(eps2, RMS(param)) : 1)
//   u = u / max(1, RMS(u) / clip) * lr';  with MOMENTUM: ema = b1 ema + (1 - b1) u; u = ema
//   param = param - wd lr' param - u
// One pass per flag, dispatched in this order for a parameter:
//   ROWS (factored; a workgroup per row), COLS (factored; a workgroup per 32 columns, 8 row lanes),
//   ROWMEAN (factored; a workgroup per batch: scratch[ROW_MEAN_AT + b] = mean(row)),
//   USQ (`groups` workgroups: scratch[2w], scratch[2w + 1] = partial sums of u^2 and param^2),
//   APPLY (two elements per thread; every workgroup sums the USQ partials in the same fixed order).
// Every reduction has a fixed shape that depends only on the sizes, so results are deterministic.
// t, mult and the skip flag come from the control buffer (optim_finalize.wgsl); a skipped step
// leaves all state unchanged. Parameter, gradient and copy are contiguous at element offsets op, og, oc.
// Spec: alias G or flag G_BF16; one pass flag; USQ and APPLY also take UPDATE and, for matrices,
// FACTORED; APPLY takes MOMENTUM and COPY_F16 or COPY_BF16; const MAX_GROUPS (bound of `groups`, <= 256).

struct Params {
  batches: u32, rows: u32, cols: u32, n: u32,
  op: u32, og: u32, oc: u32, groups: u32,
  lr: f32, eps1: f32, eps2: f32, clip: f32,
  b1: f32, wd: f32, decay: f32, relative: u32,
  scale_param: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ctrl: array<f32>;

#if ROWS
@group(0) @binding(3) var<storage, read_write> row_avg: array<f32>;
#endif
#if COLS
@group(0) @binding(3) var<storage, read_write> col_avg: array<f32>;
#endif
#if ROWMEAN
@group(0) @binding(3) var<storage, read> row_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> scratch: array<f32>;
#endif
#if USQ
@group(0) @binding(3) var<storage, read> param: array<f32>;
#if FACTORED
@group(0) @binding(4) var<storage, read> row_avg: array<f32>;
@group(0) @binding(5) var<storage, read> col_avg: array<f32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;
#else
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> scratch: array<f32>;
#endif
#endif
#if APPLY
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
#if FACTORED
@group(0) @binding(4) var<storage, read> row_avg: array<f32>;
@group(0) @binding(5) var<storage, read> col_avg: array<f32>;
@group(0) @binding(6) var<storage, read> scratch: array<f32>;
@group(0) @binding(7) var<storage, read_write> ema: array<f32>;
#if COPY_F16
@group(0) @binding(8) var<storage, read_write> low: array<f16>;
#else
@group(0) @binding(8) var<storage, read_write> low: array<u32>;
#endif
#else
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> scratch: array<f32>;
@group(0) @binding(6) var<storage, read_write> ema: array<f32>;
#if COPY_F16
@group(0) @binding(7) var<storage, read_write> low: array<f16>;
#else
@group(0) @binding(7) var<storage, read_write> low: array<u32>;
#endif
#endif
#endif

const ROW_MEAN_AT = 2u * MAX_GROUPS;

var<workgroup> red_a: array<f32, 256>;
var<workgroup> red_b: array<f32, 256>;

// Sums red_a and red_b over the workgroup into element 0 (fixed tree).
fn tree_sum(t: u32) {
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red_a[t] += red_a[t + s]; red_b[t] += red_b[t + s]; }
    workgroupBarrier();
  }
}

fn beta2t() -> f32 { return 1.0 - pow(ctrl[CTRL_T], p.decay); }
fn skipped() -> bool { return ctrl[CTRL_SKIP] != 0.0; }

#if ROWS
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.batches * p.rows) { return; }   // uniform per workgroup
  let mult = ctrl[CTRL_MULT];
  var acc = 0.0;
  for (var j = t; j < p.cols; j += 256u) { let g = load_grad(p.og + r * p.cols + j) * mult; acc += g * g; }
  red_a[t] = acc;
  red_b[t] = 0.0;
  tree_sum(t);
  if (t == 0u && !skipped()) {
    let b2t = beta2t();
    row_avg[r] = b2t * row_avg[r] + (1.0 - b2t) * (red_a[0] / f32(p.cols) + p.eps1);
  }
}
#endif

#if COLS
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let blocks = (p.cols + 31u) / 32u;
  let w = wg.x + wg.y * nwg.x;
  if (w >= p.batches * blocks) { return; }   // uniform per workgroup
  let b = w / blocks;
  let j = (w % blocks) * 32u + t % 32u;
  let lane = t / 32u;
  let mult = ctrl[CTRL_MULT];
  var acc = 0.0;
  if (j < p.cols) {
    for (var i = lane; i < p.rows; i += 8u) { let g = load_grad(p.og + (b * p.rows + i) * p.cols + j) * mult; acc += g * g; }
  }
  red_a[t] = acc;
  workgroupBarrier();
  for (var s = 4u; s > 0u; s >>= 1u) {
    if (lane < s) { red_a[t] += red_a[t + s * 32u]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < p.cols && !skipped()) {
    let b2t = beta2t();
    let c = b * p.cols + j;
    col_avg[c] = b2t * col_avg[c] + (1.0 - b2t) * (red_a[t] / f32(p.rows) + p.eps1);
  }
}
#endif

#if ROWMEAN
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wg.x + wg.y * nwg.x;
  if (b >= p.batches) { return; }   // uniform per workgroup
  var acc = 0.0;
  for (var i = t; i < p.rows; i += 256u) { acc += row_avg[b * p.rows + i]; }
  red_a[t] = acc;
  red_b[t] = 0.0;
  tree_sum(t);
  if (t == 0u) { scratch[ROW_MEAN_AT + b] = red_a[0] / f32(p.rows); }
}
#endif

#if UPDATE
#if FACTORED
// The unclipped update for element k from the (already updated) row and column averages.
fn raw_update(k: u32, g: f32) -> f32 {
  let bi = k / p.cols;
  let b = bi / p.rows;
  return g * inverseSqrt(row_avg[bi] / scratch[ROW_MEAN_AT + b]) * inverseSqrt(col_avg[b * p.cols + k % p.cols]);
}
#else
fn new_v(k: u32, g: f32) -> f32 {
  let b2t = beta2t();
  return b2t * v[k] + (1.0 - b2t) * (g * g + p.eps1);
}
#endif
#endif

#if USQ
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let mult = ctrl[CTRL_MULT];
  var su = 0.0;
  var sp = 0.0;
  for (var k = wg.x * 256u + t; k < p.n; k += p.groups * 256u) {
    let g = load_grad(p.og + k) * mult;
#if FACTORED
    let u = raw_update(k, g);
#else
    let u = g * inverseSqrt(new_v(k, g));
#endif
    let w = param[p.op + k];
    su += u * u;
    sp += w * w;
  }
  red_a[t] = su;
  red_b[t] = sp;
  tree_sum(t);
  if (t == 0u) {
    scratch[2u * wg.x] = red_a[0];
    scratch[2u * wg.x + 1u] = red_b[0];
  }
}
#endif

#if APPLY
fn apply_one(k: u32, lr: f32, clip_div: f32, mult: f32) -> f32 {
  let g = load_grad(p.og + k) * mult;
#if FACTORED
  var u = raw_update(k, g);
#else
  let vk = new_v(k, g);
  v[k] = vk;
  var u = g * inverseSqrt(vk);
#endif
  u = u / clip_div * lr;
#if MOMENTUM
  let e = p.b1 * ema[k] + (1.0 - p.b1) * u;
  ema[k] = e;
  u = e;
#endif
  let w0 = param[p.op + k];
  let w = w0 - p.wd * lr * w0 - u;
  param[p.op + k] = w;
  return w;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  var su = 0.0;
  var sp = 0.0;
  if (t < p.groups) { su = scratch[2u * t]; sp = scratch[2u * t + 1u]; }
  red_a[t] = su;
  red_b[t] = sp;
  tree_sum(t);
  let k = 2u * (gid.x + gid.y * nwg.x * 256u);
  if (k >= p.n || skipped()) { return; }
  let count = f32(p.n);
  let rms_u = sqrt(red_a[0] / count);
  let rms_p = sqrt(red_b[0] / count);
  var lr = p.lr;
  if (p.relative != 0u) { lr = min(1e-2, inverseSqrt(ctrl[CTRL_T])); }
  if (p.scale_param != 0u) { lr *= max(p.eps2, rms_p); }
  let clip_div = max(1.0, rms_u / p.clip);
  let mult = ctrl[CTRL_MULT];
  let a = apply_one(k, lr, clip_div, mult);
  let has_b = k + 1u < p.n;
  var b = 0.0;
  if (has_b) { b = apply_one(k + 1u, lr, clip_div, mult); }
  store_low(k, a, b, has_b);
}
#endif
