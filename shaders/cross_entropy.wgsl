// Softmax cross-entropy over rows of logits [rows, vocab] with u32 targets [rows], fused so
// the softmax is never stored. Rows whose target equals `ignore` contribute nothing; a
// target >= vocab (and not `ignore`) gives a NaN loss so the mistake cannot pass unnoticed.
// With label smoothing e the target distribution is (1 - e) onehot + e / vocab:
//   loss = (1 - e) (lse - z[t]) + e (lse - mean_j z[j]),  lse = log sum_j exp(z[j])
// Stages (one flag each):
//   FORWARD   one workgroup per row, one pass (online max/sum of exp): row_loss, lse (f32).
//   MEAN      one workgroup: mean of row_loss over non-ignored rows (0 if there are none)
//             and that count (u32), in a fixed order, so the result is reproducible.
//   BACKWARD  one workgroup per row: dz[j] = (exp(z[j] - lse) - target_j) * dloss / count,
//             dloss read from a 1-element f32 buffer, or from p.dloss with flag DLOSS_UNIFORM
//             (a host number, such as a loss scale); with flag IN_PLACE it overwrites z.
// With flag VEC4 (vocab and the logits' offset multiples of 4) FORWARD and BACKWARD move logits four
// at a time: a row is memory-bound, and 2-byte f16 accesses left most of the bandwidth unused.
// Spec: alias T (logits storage, f32 or f16); one stage flag; IN_PLACE, DLOSS_UNIFORM, VEC4.

struct Params { rows: u32, vocab: u32, ignore: u32, smoothing: f32, dloss: f32 }
@group(0) @binding(0) var<uniform> p: Params;

const WG = 256u;
const LOWEST = -3.4028234e38;   // finite, so empty partial maxima never give inf - inf

fn nan() -> f32 { let bits = 0x7fc00000u; return bitcast<f32>(bits); }

// The logits array (FORWARD, BACKWARD) holds LW logits per element; logit(i) reads logit i of it.
#if !MEAN
#if VEC4
alias LT = vec4<T>;
const LW = 4u;
fn logit(i: u32) -> f32 { return f32(logits[i >> 2u][i & 3u]); }
#else
alias LT = T;
const LW = 1u;
fn logit(i: u32) -> f32 { return f32(logits[i]); }
#endif
#endif
#if FORWARD
@group(0) @binding(1) var<storage, read> logits: array<LT>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;

var<workgroup> scratch: array<vec3<f32>, 256>;   // (max, sum of exp(z - max), sum of z)

fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let m = max(a.x, b.x);
  return vec3(m, a.y * exp(a.x - m) + b.y * exp(b.x - m), a.z + b.z);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }   // uniform per workgroup
  let base = row * p.vocab;
  var acc = vec3(LOWEST, 0.0, 0.0);
  for (var j = t; j < p.vocab / LW; j += WG) {
#if VEC4
    let z = vec4<f32>(logits[base / 4u + j]);
    let m = max(max(z.x, z.y), max(z.z, z.w));
    acc = merge(acc, vec3(m, dot(exp(z - m), vec4(1.0)), dot(z, vec4(1.0))));
#else
    let z = f32(logits[base + j]);
    if (z > acc.x) {
      acc = vec3(z, acc.y * exp(acc.x - z) + 1.0, acc.z + z);
    } else {
      acc = vec3(acc.x, acc.y + exp(z - acc.x), acc.z + z);
    }
#endif
  }
  scratch[t] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { scratch[t] = merge(scratch[t], scratch[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) {
    let total = scratch[0];
    let lse = total.x + log(total.y);
    let tgt = targets[row];
    var loss = 0.0;
    if (tgt != p.ignore) {
      if (tgt < p.vocab) {
        let nll = lse - logit(base + tgt);
        loss = (1.0 - p.smoothing) * nll + p.smoothing * (lse - total.z / f32(p.vocab));
      } else {
        loss = nan();
      }
    }
    row_loss[row] = loss;
    lse_out[row] = lse;
  }
}
#endif

#if MEAN
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> count_out: array<u32>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> counts: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  var c = 0u;
  for (var r = t; r < p.rows; r += WG) {
    if (targets[r] != p.ignore) { s += row_loss[r]; c += 1u; }
  }
  sums[t] = s;
  counts[t] = c;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { sums[t] += sums[t + k]; counts[t] += counts[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    mean_out[0] = select(0.0, sums[0] / f32(counts[0]), counts[0] > 0u);
    count_out[0] = counts[0];
  }
}
#endif

#if BACKWARD
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> logits: array<LT>;
#else
@group(0) @binding(1) var<storage, read> logits: array<LT>;
#endif
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> lse_in: array<f32>;
@group(0) @binding(4) var<storage, read> count_in: array<u32>;
#if DLOSS_UNIFORM
#if !IN_PLACE
@group(0) @binding(5) var<storage, read_write> dlogits: array<LT>;
#endif
fn upstream() -> f32 { return p.dloss; }
#else
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
#if !IN_PLACE
@group(0) @binding(6) var<storage, read_write> dlogits: array<LT>;
#endif
fn upstream() -> f32 { return dloss[0]; }
#endif

fn store(i: u32, v: LT) {
#if IN_PLACE
  logits[i] = v;
#else
  dlogits[i] = v;
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.vocab;
  let tgt = targets[row];
  let count = count_in[0];
  if (tgt == p.ignore || count == 0u) {
    for (var j = t; j < p.vocab / LW; j += WG) { store(base / LW + j, LT()); }
    return;
  }
  let scale = upstream() / f32(count);
  let lse = lse_in[row];
  let uniform_part = p.smoothing / f32(p.vocab);
  for (var j = t; j < p.vocab / LW; j += WG) {
#if VEC4
    let q = exp(vec4<f32>(logits[base / 4u + j]) - lse);
    let onehot = select(vec4(0.0), vec4(1.0 - p.smoothing), vec4(4u * j) + vec4(0u, 1u, 2u, 3u) == vec4(tgt));
    store(base / 4u + j, LT((q - onehot - uniform_part) * scale));
#else
    let q = exp(f32(logits[base + j]) - lse);
    let onehot = select(0.0, 1.0 - p.smoothing, j == tgt);
    store(base + j, T((q - onehot - uniform_part) * scale));
#endif
  }
}
#endif
