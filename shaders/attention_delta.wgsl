// Fused attention backward, first step: per query row, stats = (lse, delta) with
// delta_i = sum_d dO[i, d] * o[i, d] (accumulated in f32), for attention_dkdv and attention_dq.
// dO and o are strided [B, H, Tq, D] views with a contiguous last dimension (layout vectors
// (offset, stride_b, stride_h, stride_t) as in attention_common.wgsl); lse and stats are
// contiguous [B, H, Tq]. TPR threads share a row (ROWS_PER_WG rows per workgroup), each summing
// every TPR-th element (or vec4, flag VEC4: D and every layout entry multiples of 4), then the
// row's threads add their sums in a fixed tree, so the result does not depend on scheduling.
// Rows sit far apart in GPT's fused layouts: a thread per row read them 2 bytes at a time.
// Spec: alias T (f32 or f16 storage), const D; flag VEC4.

struct Params {
  rows: u32, heads: u32, tq: u32, _p0: u32,
  do_l: vec4<u32>, o_l: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> d_o: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> o: array<vec4<T>>;
const W = 4u;
#else
@group(0) @binding(1) var<storage, read> d_o: array<T>;
@group(0) @binding(2) var<storage, read> o: array<T>;
const W = 1u;
#endif
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<vec2<f32>>;

const TPR = 16u;
const ROWS_PER_WG = 16u;
var<workgroup> partial: array<f32, TPR * ROWS_PER_WG>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let slot = t / TPR;
  let lane = t % TPR;
  let row = (wg.x + wg.y * nwg.x) * ROWS_PER_WG + slot;
  var acc = 0.0;
  if (row < p.rows) {
    let i = row % p.tq;
    let h = (row / p.tq) % p.heads;
    let b = row / (p.tq * p.heads);
    let gb = (p.do_l.x + b * p.do_l.y + h * p.do_l.z + i * p.do_l.w) / W;
    let ob = (p.o_l.x + b * p.o_l.y + h * p.o_l.z + i * p.o_l.w) / W;
    for (var d = lane; d < D / W; d += TPR) {
#if VEC4
      acc += dot(vec4<f32>(d_o[gb + d]), vec4<f32>(o[ob + d]));
#else
      acc += f32(d_o[gb + d]) * f32(o[ob + d]);
#endif
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < p.rows) { stats[row] = vec2<f32>(lse[row], partial[t]); }
}
