// Strided copy with type conversion: dst[i] = cast(src[offset + sum_d idx_d * stride_d]).
// Makes views contiguous and casts between f32, f16 and bf16 (bf16 = packed pairs in u32,
// rounded to nearest even on store). Rank <= 8; each thread writes two consecutive
// outputs, so a packed bf16 word is written whole by one thread. With flag OUT_STRIDED the
// output is a view of the same shape too (out_offset, out_strides; f32 or f16 storage). With flag
// VEC4 (no bf16; the last dimension contiguous on both sides and a multiple of 4, every other
// stride and both offsets multiples of 4) each thread moves four elements as one vector.
// Spec: alias IN, OUT (storage element types); flags IN_BF16, OUT_BF16, OUT_STRIDED, VEC4.

struct Params {
  n: u32, rank: u32, offset: u32, out_offset: u32,
  shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>, out_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> src: array<vec4<IN>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<OUT>>;
#else
#if IN_BF16
@group(0) @binding(1) var<storage, read> src: array<u32>;
fn load(i: u32) -> f32 { let w = src[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }
#else
@group(0) @binding(1) var<storage, read> src: array<IN>;
fn load(i: u32) -> f32 { return f32(src[i]); }
#endif
#if OUT_BF16
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
#else
@group(0) @binding(2) var<storage, read_write> dst: array<OUT>;
#endif
#endif

fn bf16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return (u >> 16u) | 0x40u; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}

// Element offset of flat index i (row-major over p.shape) in a view with this offset and strides.
fn strided_index(i: u32, offset: u32, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var at = offset;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let size = p.shape[d / 4][d % 4];
    at += (rem % size) * strides[d / 4][d % 4];
    rem /= size;
  }
  return at;
}

fn source_index(i: u32) -> u32 { return strided_index(i, p.offset, p.strides); }

fn dest_index(i: u32) -> u32 {
#if OUT_STRIDED
  return strided_index(i, p.out_offset, p.out_strides);
#else
  return i;
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
#if VEC4
  let i = 4u * (gid.x + gid.y * nwg.x * 256u);
  if (i >= p.n) { return; }
  dst[dest_index(i) / 4u] = vec4<OUT>(src[source_index(i) / 4u]);
#else
  let i = 2u * (gid.x + gid.y * nwg.x * 256u);
  if (i >= p.n) { return; }
  let a = load(source_index(i));
  let has_b = i + 1u < p.n;
  var b = 0.0;
  if (has_b) { b = load(source_index(i + 1u)); }
#if OUT_BF16
  dst[i >> 1u] = bf16_bits(a) | (bf16_bits(b) << 16u);
#else
  dst[dest_index(i)] = OUT(a);
  if (has_b) { dst[dest_index(i + 1u)] = OUT(b); }
#endif
#endif
}
