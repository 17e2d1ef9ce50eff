// Reduction along one axis of a contiguous tensor viewed as [outer, len, inner]:
//   out[o, j] = reduce_{k < len} x[o, k, j]   (sum, mean or max; accumulated in f32).
// Three shapes of work:
//   ROWS (inner == 1): a workgroup of 256 threads reduces one row (tree in workgroup memory);
//   COLS (long columns): workgroups of 64 columns x 4 lanes reduce CHUNK rows each into f32
//     partials [outer, chunks, inner] (reads coalesced along j), a second dispatch finishes;
//   otherwise each thread reduces one (o, j) column serially.
// `divisor` is the element count a mean divides by (the original length in a second pass).
// Spec: alias T (input storage), alias OUT_T (output storage); const OP (0 sum, 1 mean, 2 max);
// flags ROWS, COLS.

struct Params { outer: u32, len: u32, inner: u32, divisor: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<OUT_T>;

fn combine(a: f32, b: f32) -> f32 {
  if (OP == 2u) { return max(a, b); }
  return a + b;
}

fn identity() -> f32 {
  if (OP == 2u) { return -3.4028234e38; }
  return 0.0;
}

fn finish(v: f32) -> f32 {
  if (OP == 1u) { return v / f32(p.divisor); }
  return v;
}

const CHUNK = 256u;

#if ROWS
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.outer) { return; }   // uniform per workgroup, so barriers below stay uniform
  var acc = identity();
  for (var k = t; k < p.len; k += 256u) { acc = combine(acc, f32(x[row * p.len + k])); }
  partial[t] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] = combine(partial[t], partial[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { out[row] = OUT_T(finish(partial[0])); }
}
#else
#if COLS
var<workgroup> lanes: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wg.x * 64u + lid.x;
  let chunk = wg.y;
  let o = wg.z;
  var acc = identity();
  if (j < p.inner) {
    let end = min(p.len, (chunk + 1u) * CHUNK);
    for (var k = chunk * CHUNK + lid.y; k < end; k += 4u) { acc = combine(acc, f32(x[(o * p.len + k) * p.inner + j])); }
  }
  lanes[lid.y * 64u + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && j < p.inner) {
    let v = combine(combine(lanes[lid.x], lanes[64u + lid.x]), combine(lanes[128u + lid.x], lanes[192u + lid.x]));
    out[(o * gridChunks() + chunk) * p.inner + j] = OUT_T(v);
  }
}

fn gridChunks() -> u32 { return (p.len + CHUNK - 1u) / CHUNK; }
#else
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.outer * p.inner) { return; }
  let o = i / p.inner;
  let j = i % p.inner;
  var acc = identity();
  for (var k = 0u; k < p.len; k++) { acc = combine(acc, f32(x[(o * p.len + k) * p.inner + j])); }
  out[i] = OUT_T(finish(acc));
}
#endif
#endif
