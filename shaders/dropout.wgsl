// Dropout with a counter-based RNG: out[i] = keep(i) ? in[i] * scale : 0, and the mask is
// never stored: the backward pass runs this same kernel on dy with the same seed/offset.
// Random bits come from Philox-4x32-10 (Salmon et al., SC'11; Random123's constants):
//   key = (seed_lo, seed_hi), counter = (i / 4, 0, offset_lo, offset_hi),
// and output word i % 4 decides element i: keep(i) = word >= threshold, threshold = p * 2^32.
// Each thread handles the 4 elements of one counter. n < 2^32 elements.
// Spec: alias T (f32 or f16 storage).

struct Params { n: u32, threshold: u32, scale: f32, _pad: u32, seed_lo: u32, seed_hi: u32, offset_lo: u32, offset_hi: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

// (hi, lo) words of the 64-bit product a * b, from 16-bit halves (WGSL has no mul-hi).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu; let ah = a >> 16u;
  let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2(hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2(0x9E3779B9u, 0xBB67AE85u); }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = gid.x + gid.y * nwg.x * 256u;
  let first = 4u * g;
  if (first >= p.n) { return; }
  let bits = philox4x32_10(vec4(g, 0u, p.offset_lo, p.offset_hi), vec2(p.seed_lo, p.seed_hi));
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < p.n) {
      dst[i] = T(select(0.0, f32(src[i]) * p.scale, bits[j] >= p.threshold));
    }
  }
}
