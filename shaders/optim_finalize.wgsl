// One workgroup that turns the gradient partials (optim_gradstats.wgsl) into the optimizer's control
// words and updates the dynamic loss scale, all on the GPU:
//   norm = sqrt(sum of partials); found_inf = any partial flagged, or the sum is not finite
//   coef = min(1, max_norm / (norm + 1e-6)) when max_norm > 0, else 1
//   ctrl = [t + (skip ? 0 : 1), norm, coef / scale, skip, found_inf], skip = DYNAMIC && found_inf
// With flag DYNAMIC, scaler = [scale, good_steps, skipped, _] follows PyTorch's GradScaler: on inf/nan
// the scale is multiplied by `backoff` and the good-step count resets; after `interval` good steps in a
// row it is multiplied by `growth` (when the result stays finite). Counts are f32 (exact below 2^24).

struct Params { count: u32, interval: u32, max_norm: f32, growth: f32, backoff: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> ctrl: array<f32>;
@group(0) @binding(3) var<storage, read_write> scaler: array<f32>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> bad: array<u32, 256>;

fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  var nonfinite = 0u;
  for (var i = t; i < p.count; i += 256u) {
    let q = partials[i];
    acc += q.x;
    if (q.y != 0.0) { nonfinite = 1u; }
  }
  sums[t] = acc;
  bad[t] = nonfinite;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; bad[t] = max(bad[t], bad[t + s]); }
    workgroupBarrier();
  }
  if (t != 0u) { return; }
  let total = sums[0];
  let found = bad[0] != 0u || !is_finite(total);
  let norm = sqrt(total);
  var coef = 1.0;
  if (p.max_norm > 0.0 && !found) { coef = min(1.0, p.max_norm / (norm + 1e-6)); }
  let scale = scaler[0];
#if DYNAMIC
  let skip = found;
#else
  let skip = false;
#endif
  ctrl[0] = select(ctrl[0] + 1.0, ctrl[0], skip);
  ctrl[1] = norm;
  ctrl[2] = coef / scale;
  ctrl[3] = select(0.0, 1.0, skip);
  ctrl[4] = select(0.0, 1.0, found);
#if DYNAMIC
  if (found) {
    scaler[0] = scale * p.backoff;
    scaler[1] = 0.0;
    scaler[2] = scaler[2] + 1.0;
  } else {
    let good = scaler[1] + 1.0;
    if (good >= f32(p.interval)) {
      let grown = scale * p.growth;
      if (is_finite(grown)) { scaler[0] = grown; }
      scaler[1] = 0.0;
    } else {
      scaler[1] = good;
    }
  }
#endif
}
