// Fused attention backward, first step: per query row, stats = (lse, delta) with
// delta_i = sum_d dO[i, d] * o[i, d] (accumulated in f32), for attention_dkdv and attention_dq.
// dO and o are strided [B, H, Tq, D] views with a contiguous last dimension (layout vectors
// (offset, stride_b, stride_h, stride_t) as in attention_common.wgsl); lse and stats are
// contiguous [B, H, Tq]. One thread per row.
// Spec: alias T (f32 or f16 storage), const D.

struct Params {
  rows: u32, heads: u32, tq: u32, _p0: u32,
  do_l: vec4<u32>, o_l: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> d_o: array<T>;
@group(0) @binding(2) var<storage, read> o: array<T>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let i = row % p.tq;
  let h = (row / p.tq) % p.heads;
  let b = row / (p.tq * p.heads);
  let gb = p.do_l.x + b * p.do_l.y + h * p.do_l.z + i * p.do_l.w;
  let ob = p.o_l.x + b * p.o_l.y + h * p.o_l.z + i * p.o_l.w;
  var delta = 0.0;
  for (var d = 0u; d < D; d++) { delta += f32(d_o[gb + d]) * f32(o[ob + d]); }
  stats[row] = vec2<f32>(lse[row], delta);
}
