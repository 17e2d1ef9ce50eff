// Gradient sum of squares for global-norm clipping and inf/nan detection (one dispatch per gradient).
//   partials[base + w] = (sum of (g / scale)^2, 1 if any element is inf/nan else 0)
// over the elements w*256 + t + k*groups*256 of the gradient (element offset `offset`, n elements),
// where scale = scaler[0] is the current loss scale. Workgroup w of `groups` always covers the same
// elements and reduces them in a fixed tree, so the sum does not depend on scheduling.
// optim_finalize.wgsl then sums all partials. Spec: as optim_common.wgsl (alias G or flag G_BF16).

struct Params { n: u32, offset: u32, base: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scaler: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec2<f32>>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> bad: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let inv_scale = 1.0 / scaler[0];
  var acc = 0.0;
  var nonfinite = 0u;
  for (var i = wg.x * 256u + t; i < p.n; i += p.groups * 256u) {
    let g = load_grad(p.offset + i);
    if (is_finite(g)) { let s = g * inv_scale; acc += s * s; } else { nonfinite = 1u; }
  }
  sums[t] = acc;
  bad[t] = nonfinite;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; bad[t] = max(bad[t], bad[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { partials[p.base + wg.x] = vec2<f32>(sums[0], f32(bad[0])); }
}
