// Elementwise ops on f32 or f16 storage (arithmetic in f32), with broadcasting:
//   unary:  out[i] = f(a[ia])            binary: out[i] = f(a[ia], b[ib])
// where ia/ib follow per-dimension strides (0 on broadcast dimensions) over the
// output's shape, rank <= 4, from element offsets oa/ob. `s` is a scalar operand.
// Flag FLAT4: same-shape contiguous operands whose offsets and size are multiples of 4 are read
// and written four elements at a time (n counts vec4s, oa/ob are vec4 offsets), at full bandwidth.
// Spec: alias T; const OP (see OPS in src/tensor/ops.ts); flags BINARY, FLAT4.

struct Params { n: u32, rank: u32, s: f32, oa: u32, ob: u32, _p0: u32, _p1: u32, _p2: u32, shape: vec4<u32>, sa: vec4<u32>, sb: vec4<u32> }
@group(0) @binding(0) var<uniform> p: Params;
#if FLAT4
alias VT = vec4<T>;
#else
alias VT = T;
#endif
@group(0) @binding(1) var<storage, read> a: array<VT>;
#if BINARY
@group(0) @binding(2) var<storage, read> b: array<VT>;
@group(0) @binding(3) var<storage, read_write> out: array<VT>;
#else
@group(0) @binding(2) var<storage, read_write> out: array<VT>;
#endif

fn op(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return x * p.s; }
    case 5u: { return x + p.s; }
    case 6u: { return max(x, 0.0); }
    case 7u: { return exp(x); }
    case 8u: { return log(x); }
    case 9u: { return sqrt(x); }
    case 10u: { return x * x; }
    case 11u: { return -x; }
    case 12u: { return tanh(x); }
    case 14u: { return max(x, y); }
    default: { return x; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
#if FLAT4
  let x = vec4<f32>(a[p.oa + i]);
#if BINARY
  let y = vec4<f32>(b[p.ob + i]);
#else
  let y = vec4<f32>();
#endif
  out[i] = VT(vec4<f32>(op(x.x, y.x), op(x.y, y.y), op(x.z, y.z), op(x.w, y.w)));
#else
  var rem = i;
  var ia = p.oa;
  var ib = p.ob;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let c = rem % p.shape[d];
    rem /= p.shape[d];
    ia += c * p.sa[d];
    ib += c * p.sb[d];
  }
#if BINARY
  out[i] = T(op(f32(a[ia]), f32(b[ib])));
#else
  out[i] = T(op(f32(a[ia]), 0.0));
#endif
#endif
}
