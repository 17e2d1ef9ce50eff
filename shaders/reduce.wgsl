// Reduction along one axis of a contiguous tensor viewed as [outer, len, inner]:
//   out[o, j] = reduce_{k < len} x[o, k, j]   (sum, mean or max; accumulated in f32).
// Three shapes of work:
//   ROWS (inner == 1): a workgroup of 256 threads reduces one row (tree in workgroup memory);
//   COLS (long columns): workgroups of 64 columns x 4 lanes reduce CHUNK rows each into f32
//     partials [outer, chunks, inner] (reads coalesced along j), a second dispatch finishes;
//     with flag VEC4 (inner % 4 == 0) a column of the workgroup is four adjacent columns, read
//     as one vec4 (bias gradients over 16k rows of f16 are memory-bound);
//   otherwise each thread reduces one (o, j) column serially.
// `divisor` is the element count a mean divides by (the original length in a second pass).
// Spec: alias T (input storage), alias OUT_T (output storage); const OP (0 sum, 1 mean, 2 max);
// flags ROWS, COLS, VEC4.

struct Params { outer: u32, len: u32, inner: u32, divisor: u32 }
@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> x: array<vec4<T>>;
#else
@group(0) @binding(1) var<storage, read> x: array<T>;
#endif
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
#if VEC4
const W = 4u;
alias V = vec4<f32>;
fn load(i: u32) -> V { return V(x[i]); }
#else
const W = 1u;
alias V = f32;
fn load(i: u32) -> V { return f32(x[i]); }
#endif
fn combine_v(a: V, b: V) -> V {
  if (OP == 2u) { return max(a, b); }
  return a + b;
}
var<workgroup> lanes: array<V, 256>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wg.x * 64u + lid.x;   // in units of W columns
  let inner = p.inner / W;
  let chunk = wg.y;
  let o = wg.z;
  var acc = V(identity());
  if (j < inner) {
    let end = min(p.len, (chunk + 1u) * CHUNK);
    for (var k = chunk * CHUNK + lid.y; k < end; k += 4u) { acc = combine_v(acc, load((o * p.len + k) * inner + j)); }
  }
  lanes[lid.y * 64u + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && j < inner) {
    let v = combine_v(combine_v(lanes[lid.x], lanes[64u + lid.x]), combine_v(lanes[128u + lid.x], lanes[192u + lid.x]));
    let at = (o * gridChunks() + chunk) * p.inner + j * W;
#if VEC4
    for (var c = 0u; c < 4u; c++) { out[at + c] = OUT_T(v[c]); }
#else
    out[at] = OUT_T(v);
#endif
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
