// LayerNorm and RMSNorm over the last dimension of a contiguous [rows, cols] tensor.
//   LayerNorm: y = (x - mean) * rstd * w + b,   rstd = 1 / sqrt(var + eps)   (biased variance)
//   RMSNorm:   y = x * rstd * w,                rstd = 1 / sqrt(mean(x^2) + eps)
// Stages (one flag each), all accumulating in f32:
//   FORWARD      one workgroup per row (two passes over the row: mean, then variance, for
//                accuracy); writes y, and mean/rstd (f32 [rows]) for the backward pass.
//   BACKWARD_DX  one workgroup per row: with g = dy * w and xhat = (x - mean) * rstd,
//                dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (RMSNorm drops mean(g)).
//   PARAM_PARTIAL  workgroup (column block, row chunk) sums dy * xhat (and dy) over the
//                chunk's rows into partial[chunk] (f32 [chunks, 2, cols]; RMSNorm fills
//                only the first half).
//   PARAM_FINAL  a workgroup per FINAL_COLS columns: FINAL_GROUPS threads per column each sum
//                every FINAL_GROUPS-th chunk, then one adds their sums in order: dw (and db).
// The parameter gradients never use float atomics, so they are bitwise reproducible.
// Spec: alias T (x, y, dy, dx storage: f32 or f16), W (w, b, dw, db storage); flags RMS and
// one stage. Rows are any count (2-D grid, row = wg.x + wg.y * nwg.x); cols < 2^32 / rows.

struct Params { rows: u32, cols: u32, eps: f32, chunk_rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const WG = 256u;
var<workgroup> scratch: array<vec2<f32>, 256>;

// Sum over the workgroup (fixed tree order); every thread gets the result.
fn block_sum(t: u32, v: vec2<f32>) -> vec2<f32> {
  scratch[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { scratch[t] += scratch[t + s]; }
    workgroupBarrier();
  }
  let r = scratch[0];
  workgroupBarrier();
  return r;
}

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<W>;
#if RMS
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> rstd_out: array<f32>;
#else
@group(0) @binding(3) var<storage, read> b: array<W>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }   // uniform per workgroup
  let base = row * p.cols;
  let n = f32(p.cols);
#if RMS
  let mean = 0.0;
#else
  var s = 0.0;
  for (var c = t; c < p.cols; c += WG) { s += f32(x[base + c]); }
  let mean = block_sum(t, vec2(s, 0.0)).x / n;
#endif
  var ss = 0.0;
  for (var c = t; c < p.cols; c += WG) { let d = f32(x[base + c]) - mean; ss += d * d; }
  let rstd = inverseSqrt(block_sum(t, vec2(ss, 0.0)).x / n + p.eps);
  for (var c = t; c < p.cols; c += WG) {
    let xhat = (f32(x[base + c]) - mean) * rstd;
#if RMS
    y[base + c] = T(xhat * f32(w[c]));
#else
    y[base + c] = T(xhat * f32(w[c]) + f32(b[c]));
#endif
  }
  if (t == 0u) {
#if !RMS
    mean_out[row] = mean;
#endif
    rstd_out[row] = rstd;
  }
}
#endif

#if BACKWARD_DX
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> w: array<W>;
#if RMS
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<T>;
#else
@group(0) @binding(4) var<storage, read> mean_in: array<f32>;
@group(0) @binding(5) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<T>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
#if RMS
  let mean = 0.0;
#else
  let mean = mean_in[row];
#endif
  let rstd = rstd_in[row];
  var acc = vec2(0.0);   // (sum g, sum g * xhat)
  for (var c = t; c < p.cols; c += WG) {
    let g = f32(dy[base + c]) * f32(w[c]);
    acc += vec2(g, g * (f32(x[base + c]) - mean) * rstd);
  }
  let m = block_sum(t, acc) / f32(p.cols);
  for (var c = t; c < p.cols; c += WG) {
    let g = f32(dy[base + c]) * f32(w[c]);
    let xhat = (f32(x[base + c]) - mean) * rstd;
#if RMS
    dx[base + c] = T(rstd * (g - xhat * m.y));
#else
    dx[base + c] = T(rstd * (g - m.x - xhat * m.y));
#endif
  }
}
#endif

#if PARAM_PARTIAL
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
#if RMS
@group(0) @binding(3) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
#else
@group(0) @binding(3) var<storage, read> mean_in: array<f32>;
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x * WG + t;
  let chunk = wg.y;
  if (c >= p.cols) { return; }
  let start = chunk * p.chunk_rows;
  let end = min(start + p.chunk_rows, p.rows);
  var acc = vec2(0.0);   // (sum dy * xhat, sum dy)
  for (var r = start; r < end; r++) {
#if RMS
    let mean = 0.0;
#else
    let mean = mean_in[r];
#endif
    let d = f32(dy[r * p.cols + c]);
    acc += vec2(d * (f32(x[r * p.cols + c]) - mean) * rstd_in[r], d);
  }
  partial[2u * chunk * p.cols + c] = acc.x;
#if !RMS
  partial[(2u * chunk + 1u) * p.cols + c] = acc.y;
#endif
}
#endif

#if PARAM_FINAL
// p.rows holds the number of chunks here.
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<W>;
#if !RMS
@group(0) @binding(3) var<storage, read_write> db: array<W>;
#endif

const FINAL_COLS = 32u;
const FINAL_GROUPS = WG / FINAL_COLS;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x * FINAL_COLS + t % FINAL_COLS;
  let g = t / FINAL_COLS;
  var acc = vec2(0.0);   // (dw, db) over chunks g, g + FINAL_GROUPS, ...
  if (c < p.cols) {
    for (var k = g; k < p.rows; k += FINAL_GROUPS) {
      acc.x += partial[2u * k * p.cols + c];
#if !RMS
      acc.y += partial[(2u * k + 1u) * p.cols + c];
#endif
    }
  }
  scratch[t] = acc;
  workgroupBarrier();
  if (g == 0u && c < p.cols) {
    var total = vec2(0.0);
    for (var k = 0u; k < FINAL_GROUPS; k++) { total += scratch[k * FINAL_COLS + t]; }
    dw[c] = W(total.x);
#if !RMS
    db[c] = W(total.y);
#endif
  }
}
#endif
