// Gradient sum of squares for global-norm clipping and inf/nan detection (one dispatch per gradient).
//   partials[base + w] = (sum of (g / scale)^2 over finite elements, 1 if any element is inf/nan else 0)
// over the gradient's n elements (element offset `offset`), where scale = scaler[0] is the current
// loss scale. Elements go in runs of 4: thread t of workgroup w takes runs w*256 + t + k*groups*256
// (k = 0, 1, ...; two runs per loop iteration, so two loads are in flight), keeps one sum per lane of
// the run, adds the 4 lanes, and the workgroup adds its threads in a fixed tree. So the sum depends on
// n and `groups` (sumsqGroups(n) in kernels.ts) only: not on scheduling, the offset or the load path.
// Flag VEC4 (offset a multiple of 4): one vector load per run; a last partial run is loaded whole and
// its lanes past n are ignored (they stay inside the buffer: see vec4Aligned in kernels.ts). Without
// it, four scalar loads, none past n. optim_finalize.wgsl then sums all partials.
// Spec: as optim_common.wgsl (alias G or flag G_BF16), flag VEC4.

struct Params { n: u32, offset: u32, base: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scaler: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec2<f32>>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> bad: array<u32, 256>;

// Gradient elements i..i+3 (i < n, a multiple of 4); lanes past n are zero.
fn load_run(i: u32) -> vec4<f32> {
  let live = vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n - i);
#if VEC4
  return select(vec4<f32>(0.0), load_grad4(p.offset + i), live);
#else
  var g = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) { if (live[c]) { g[c] = load_grad(p.offset + i + c); } }
  return g;
#endif
}

fn is_finite4(x: vec4<f32>) -> vec4<bool> { return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let inv_scale = 1.0 / scaler[0];
  let stride = p.groups * 1024u; // elements between a thread's consecutive runs
  var acc = vec4<f32>(0.0);
  var finite = vec4<bool>(true);
  for (var i = (wg.x * 256u + t) * 4u; i < p.n; i += 2u * stride) {
    let a = load_run(i);
    var b = vec4<f32>(0.0);
    if (i + stride < p.n) { b = load_run(i + stride); }
    let fa = is_finite4(a);
    let fb = is_finite4(b);
    let sa = select(vec4<f32>(0.0), a * inv_scale, fa);
    let sb = select(vec4<f32>(0.0), b * inv_scale, fb);
    acc += sa * sa;
    acc += sb * sb;
    finite = finite & fa & fb;
  }
  sums[t] = (acc.x + acc.y) + (acc.z + acc.w);
  bad[t] = select(1u, 0u, all(finite));
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; bad[t] = max(bad[t], bad[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { partials[p.base + wg.x] = vec2<f32>(sums[0], f32(bad[0])); }
}
