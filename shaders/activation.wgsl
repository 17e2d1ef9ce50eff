// Activations, forward and backward, on f32 or f16 storage with f32 arithmetic.
//   GELU (tanh approximation, as GPT-2): y = 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)
//     GELU_FORWARD   out[i] = gelu(x[i])                 over n elements
//     GELU_BACKWARD  out[i] = dy[i] * gelu'(x[i])
//   SwiGLU on x [rows, 2F] = [gate | up]: y [rows, F] = silu(gate) * up, silu(g) = g * sigmoid(g)
//     SWIGLU_FORWARD   one thread per output element (n = rows * F)
//     SWIGLU_BACKWARD  dx [rows, 2F]: dgate = dy * up * silu'(gate), dup = dy * silu(gate)
// GELU with flag VEC4 (n a multiple of 4) takes four elements per thread: it is memory-bound, and
// 2-byte f16 accesses left most of the bandwidth unused; n then counts vec4s.
// Flat index = gid.x + gid.y * nwg.x * 256 (see grid1d). Spec: alias T; one flag above; VEC4.

struct Params { n: u32, f: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const GELU_K = 0.7978845608028654;   // sqrt(2 / pi)
const GELU_C = 0.044715;

// GELU's element type in storage (VT) and in arithmetic (F).
#if VEC4
alias VT = vec4<T>;
alias F = vec4<f32>;
#else
alias VT = T;
alias F = f32;
#endif

fn sigmoid(g: F) -> F { return 1.0 / (1.0 + exp(-g)); }

// 0.5 (1 + tanh(u)) = sigmoid(2u): written this way it neither cancels near x << 0 nor
// produces inf/inf for large |x|, unlike tanh built from exp.
fn gelu_u(x: F) -> F { return GELU_K * (x + GELU_C * x * x * x); }

#if GELU_FORWARD
@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read_write> y: array<VT>;
#endif
#if GELU_BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<VT>;
@group(0) @binding(2) var<storage, read> x: array<VT>;
@group(0) @binding(3) var<storage, read_write> dx: array<VT>;
#endif
#if SWIGLU_FORWARD
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
#endif
#if SWIGLU_BACKWARD
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
#if GELU_FORWARD
  let v = F(x[i]);
  y[i] = VT(v * sigmoid(2.0 * gelu_u(v)));
#endif
#if GELU_BACKWARD
  // d/dx [x s(2u)] = s + 2 x s (1 - s) u', with 1 - s = sigmoid(-2u) computed directly.
  let v = F(x[i]);
  let u = gelu_u(v);
  let s = sigmoid(2.0 * u);
  let du = GELU_K * (1.0 + 3.0 * GELU_C * v * v);
  dx[i] = VT(F(dy[i]) * (s + 2.0 * v * s * sigmoid(-2.0 * u) * du));
#endif
#if SWIGLU_FORWARD
  let row = i / p.f;
  let gi = i + row * p.f;   // = row * 2F + (i % F)
  let g = f32(x[gi]);
  y[i] = T(g * sigmoid(g) * f32(x[gi + p.f]));
#endif
#if SWIGLU_BACKWARD
  let row = i / p.f;
  let gi = i + row * p.f;
  let g = f32(x[gi]);
  let up = f32(x[gi + p.f]);
  let s = sigmoid(g);
  let d = f32(dy[i]);
  dx[gi] = T(d * up * s * (1.0 + g * (1.0 - s)));
  dx[gi + p.f] = T(d * g * s);
#endif
}
