// LayerNorm and RMSNorm over the last dimension of a contiguous [rows, cols] tensor.
//   LayerNorm: y = (x - mean) * rstd * w + b,   rstd = 1 / sqrt(var + eps)   (biased variance)
//   RMSNorm:   y = x * rstd * w,                rstd = 1 / sqrt(mean(x^2) + eps)
// Stages (one flag each), all accumulating in f32:
//   FORWARD      mean, then variance about it (two passes, for accuracy); writes y, and
//                mean/rstd (f32 [rows]) for the backward pass.
//   BACKWARD_DX  with g = dy * w and xhat = (x - mean) * rstd,
//                dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (RMSNorm drops mean(g)).
//   PARAM_PARTIAL  workgroup (PARTIAL_UNITS column units, row chunk): ROW_LANES threads per unit sum
//                dy * xhat (and dy) over every ROW_LANES-th row of the chunk, then add their sums in
//                order into partial[chunk] (f32 [chunks, 2, cols]; RMSNorm fills only the first half).
//   PARAM_FINAL  a workgroup per FINAL_COLS columns: FINAL_GROUPS threads per column each sum
//                every FINAL_GROUPS-th chunk, then one adds their sums in order: dw (and db).
// The parameter gradients never use float atomics, so they are bitwise reproducible.
//
// Layout of FORWARD and BACKWARD_DX: a workgroup holds WG / TPR rows, TPR threads (a power of two)
// per row; a thread handles the row's units lane, lane + TPR, ... A unit is one element, or four
// with flag VEC4 (cols % 4 == 0, so every row starts on a 4-element boundary: vec4 loads/stores).
// With flag RESIDENT a thread has at most STEPS units (the row has <= TPR * STEPS units): it loads
// them into registers once and every pass reads them there. Otherwise (STEPS = 2^32 - 1) each
// pass reads the row again. A row sum costs one barrier (see row_sum); subgroup operations are
// not used because WGSL does not say which invocations share a subgroup.
//
// Spec: alias T (x, y, dy, dx storage: f32 or f16), W (w, b, dw, db storage), and per unit
// XU = T or vec4<T>, WU = W or vec4<W>, U = f32 or vec4<f32>; flags RMS, VEC4 and one stage;
// FORWARD and BACKWARD_DX also take flag ROWS, consts TPR and STEPS, and maybe flag RESIDENT.
// Rows are any count (2-D grid, workgroup = wg.x + wg.y * nwg.x); cols < 2^32 / rows.

struct Params { rows: u32, cols: u32, eps: f32, chunk_rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const WG = 256u;

#if VEC4
const WIDTH = 4u;
fn total(v: U) -> f32 { return v.x + v.y + v.z + v.w; }
#else
const WIDTH = 1u;
fn total(v: U) -> f32 { return v; }
#endif

// ---- FORWARD and BACKWARD_DX: rows of TPR threads ------------------------------------------------
#if ROWS
const ROWS_PER_WG = WG / TPR;

// One slot per row sum a kernel does, so a slot is never rewritten while others still read it.
var<workgroup> partials: array<array<vec2<f32>, WG>, 2>;

// Sum of v over the TPR threads of t's row. Every thread adds the row's partials in index order,
// so all get the same bits, after a single barrier.
fn row_sum(slot: u32, t: u32, v: vec2<f32>) -> vec2<f32> {
  partials[slot][t] = v;
  workgroupBarrier();
  let first = t - t % TPR;
  var s = vec2(0.0);
  for (var k = 0u; k < TPR; k++) { s += partials[slot][first + k]; }
  return s;
}

// The row of thread t, and its unit count (0 past the last row: those threads still join barriers).
fn row_of(wg: vec3<u32>, nwg: vec3<u32>, t: u32) -> u32 { return (wg.x + wg.y * nwg.x) * ROWS_PER_WG + t / TPR; }
fn units_of(row: u32) -> u32 { return select(0u, p.cols / WIDTH, row < p.rows); }

// Unit k of x for this thread (flat index i): from registers when the row is resident.
#if RESIDENT
var<private> x_reg: array<XU, STEPS>;
#endif
fn x_at(k: u32, i: u32) -> U {
#if RESIDENT
  return U(x_reg[k]);
#else
  return U(x[i]);
#endif
}
#endif

#if FORWARD
@group(0) @binding(1) var<storage, read> x: array<XU>;
@group(0) @binding(2) var<storage, read> w: array<WU>;
#if RMS
@group(0) @binding(3) var<storage, read_write> y: array<XU>;
@group(0) @binding(4) var<storage, read_write> rstd_out: array<f32>;
#else
@group(0) @binding(3) var<storage, read> b: array<WU>;
@group(0) @binding(4) var<storage, read_write> y: array<XU>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
#endif


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wg, nwg, t);
  let lane = t % TPR;
  let units = units_of(row);
  let base = row * (p.cols / WIDTH) + lane;
  let n = f32(p.cols);
#if RESIDENT
  for (var k = 0u; k < STEPS; k++) {
    if (lane + k * TPR >= units) { break; }
    x_reg[k] = x[base + k * TPR];
  }
#endif
#if RMS
  let mean = 0.0;
#else
  var s = U(0.0);
  for (var k = 0u; k < STEPS; k++) {
    if (lane + k * TPR >= units) { break; }
    s += x_at(k, base + k * TPR);
  }
  let mean = row_sum(0u, t, vec2(total(s), 0.0)).x / n;
#endif
  var ss = U(0.0);
  for (var k = 0u; k < STEPS; k++) {
    if (lane + k * TPR >= units) { break; }
    let d = x_at(k, base + k * TPR) - mean;
    ss += d * d;
  }
  let rstd = inverseSqrt(row_sum(1u, t, vec2(total(ss), 0.0)).x / n + p.eps);
  for (var k = 0u; k < STEPS; k++) {
    let c = lane + k * TPR;
    if (c >= units) { break; }
    let xhat = (x_at(k, base + k * TPR) - mean) * rstd;
#if RMS
    y[base + k * TPR] = XU(xhat * U(w[c]));
#else
    y[base + k * TPR] = XU(xhat * U(w[c]) + U(b[c]));
#endif
  }
  if (lane == 0u && units > 0u) {
#if !RMS
    mean_out[row] = mean;
#endif
    rstd_out[row] = rstd;
  }
}
#endif

#if BACKWARD_DX
@group(0) @binding(1) var<storage, read> dy: array<XU>;
@group(0) @binding(2) var<storage, read> x: array<XU>;
@group(0) @binding(3) var<storage, read> w: array<WU>;
#if RMS
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<XU>;
#else
@group(0) @binding(4) var<storage, read> mean_in: array<f32>;
@group(0) @binding(5) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<XU>;
#endif

#if RESIDENT
var<private> dy_reg: array<XU, STEPS>;
#endif
// Unit k of dy for this thread (flat index i).
fn dy_at(k: u32, i: u32) -> U {
#if RESIDENT
  return U(dy_reg[k]);
#else
  return U(dy[i]);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wg, nwg, t);
  let lane = t % TPR;
  let units = units_of(row);
  let base = row * (p.cols / WIDTH) + lane;
  let stat = min(row, p.rows - 1u);   // threads past the last row read a real row's statistics, unused
#if RMS
  let mean = 0.0;
#else
  let mean = mean_in[stat];
#endif
  let rstd = rstd_in[stat];
#if RESIDENT
  for (var k = 0u; k < STEPS; k++) {
    if (lane + k * TPR >= units) { break; }
    dy_reg[k] = dy[base + k * TPR];
    x_reg[k] = x[base + k * TPR];
  }
#endif
  var sum_g = U(0.0);
  var sum_gxhat = U(0.0);
  for (var k = 0u; k < STEPS; k++) {
    let c = lane + k * TPR;
    if (c >= units) { break; }
    let g = dy_at(k, base + k * TPR) * U(w[c]);
    sum_g += g;
    sum_gxhat += g * (x_at(k, base + k * TPR) - mean) * rstd;
  }
  let m = row_sum(0u, t, vec2(total(sum_g), total(sum_gxhat))) / f32(p.cols);
  for (var k = 0u; k < STEPS; k++) {
    let c = lane + k * TPR;
    if (c >= units) { break; }
    let g = dy_at(k, base + k * TPR) * U(w[c]);
    let xhat = (x_at(k, base + k * TPR) - mean) * rstd;
#if RMS
    dx[base + k * TPR] = XU(rstd * (g - xhat * m.y));
#else
    dx[base + k * TPR] = XU(rstd * (g - m.x - xhat * m.y));
#endif
  }
}
#endif

#if PARAM_PARTIAL
@group(0) @binding(1) var<storage, read> dy: array<XU>;
@group(0) @binding(2) var<storage, read> x: array<XU>;
#if RMS
@group(0) @binding(3) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<U>;
#else
@group(0) @binding(3) var<storage, read> mean_in: array<f32>;
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<U>;
#endif

const PARTIAL_UNITS = 64u;
const ROW_LANES = WG / PARTIAL_UNITS;
var<workgroup> lane_sums: array<array<U, 2>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let units = p.cols / WIDTH;
  let c = wg.x * PARTIAL_UNITS + t % PARTIAL_UNITS;
  let row_lane = t / PARTIAL_UNITS;
  let chunk = wg.y;
  let start = chunk * p.chunk_rows;
  let end = min(start + p.chunk_rows, p.rows);
  var acc = array<U, 2>(U(0.0), U(0.0));   // (sum dy * xhat, sum dy)
  if (c < units) {
    for (var r = start + row_lane; r < end; r += ROW_LANES) {
#if RMS
      let mean = 0.0;
#else
      let mean = mean_in[r];
#endif
      let d = U(dy[r * units + c]);
      acc[0] += d * (U(x[r * units + c]) - mean) * rstd_in[r];
      acc[1] += d;
    }
  }
  lane_sums[t] = acc;
  workgroupBarrier();
  if (row_lane == 0u && c < units) {
    var total = lane_sums[t];
    for (var l = 1u; l < ROW_LANES; l++) {
      total[0] += lane_sums[t + l * PARTIAL_UNITS][0];
      total[1] += lane_sums[t + l * PARTIAL_UNITS][1];
    }
    partial[2u * chunk * units + c] = total[0];
#if !RMS
    partial[(2u * chunk + 1u) * units + c] = total[1];
#endif
  }
}
#endif

#if PARAM_FINAL
// p.rows holds the number of chunks here; partial and dw/db are read and written per element.
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<W>;
#if !RMS
@group(0) @binding(3) var<storage, read_write> db: array<W>;
#endif

const FINAL_COLS = 32u;
const FINAL_GROUPS = WG / FINAL_COLS;
var<workgroup> group_sums: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
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
  group_sums[t] = acc;
  workgroupBarrier();
  if (g == 0u && c < p.cols) {
    var total = vec2(0.0);
    for (var k = 0u; k < FINAL_GROUPS; k++) { total += group_sums[k * FINAL_COLS + t]; }
    dw[c] = W(total.x);
#if !RMS
    db[c] = W(total.y);
#endif
  }
}
#endif
