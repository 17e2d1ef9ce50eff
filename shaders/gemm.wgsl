// Tiled GEMM on any adapter: C = alpha * op(A) * op(B) + beta * C + bias, then GELU, then + residual.
//
// Layout: batch z = workgroup_id.z. Element (m, k) of op(A) is at
//   off_a + z * bsa + m * lda + k   (TRANS_A: off_a + z * bsa + k * lda + m)
// and likewise (k, n) of op(B) with ldb/bsb (TRANS_B swaps k and n); a batch stride of 0
// shares one operand across the batch. C, the residual and the output use (m, n) at
// off + z * bs + m * ld + n; C is read (BETA) and written through the same binding.
// Edges: every load and store is guarded, so any M, N, K works without robustness checks.
//
// Each workgroup computes a BM x BN tile; each of its (BM/TM) * (BN/TN) threads a TM x TN
// block (rows ty*4.. of every BM/TM*4-row stripe, likewise columns, so workgroup-memory
// reads are conflict-free vec4s). K advances BK at a time through two workgroup-memory
// buffers: the next tile's global loads are issued into registers before the current
// tile's arithmetic, so one barrier per step suffices. Arithmetic is f32 whatever the
// storage type.
//
// Spec:
//   alias TA, TB (f32 or f16 storage of A and B; unused with A_BF16/B_BF16), TC (output, C,
//         residual), TBIAS (bias)
//   const BM, BN, BK, TM, TN (TM, TN multiples of 4; BM*BK and BN*BK multiples of 4*threads)
//   flags TRANS_A, TRANS_B; VEC_A, VEC_B (4-wide loads along the contiguous dimension: it,
//         the leading dimension and the offset are multiples of 4); A_BF16, B_BF16 (packed
//         bf16 storage); BETA, BIAS, GELU, RESIDUAL (epilogue); VEC_EPI (C, bias and residual
//         four at a time: N, their offsets, leading dimensions and batch strides multiples of 4).

struct Params {
  m: u32, n: u32, k: u32, lower_a: u32,   // lower_a: see k_end()
  lda: u32, ldb: u32, ldc: u32, ldr: u32,
  off_a: u32, off_b: u32, off_c: u32, off_r: u32,
  bsa: u32, bsb: u32, bsc: u32, bsr: u32,
  alpha: f32, beta: f32, off_bias: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;

#if A_BF16
#if VEC_A
@group(0) @binding(1) var<storage, read> a: array<vec2<u32>>;
fn load_a4(i: u32) -> vec4<f32> { return widen_bf16x4(a[i >> 2u]); }
#else
@group(0) @binding(1) var<storage, read> a: array<u32>;
fn load_a(i: u32) -> f32 { return widen_bf16(a[i >> 1u], i); }
#endif
#else
#if VEC_A
@group(0) @binding(1) var<storage, read> a: array<vec4<TA>>;
fn load_a4(i: u32) -> vec4<f32> { return vec4<f32>(a[i >> 2u]); }
#else
@group(0) @binding(1) var<storage, read> a: array<TA>;
fn load_a(i: u32) -> f32 { return f32(a[i]); }
#endif
#endif

#if B_BF16
#if VEC_B
@group(0) @binding(2) var<storage, read> b: array<vec2<u32>>;
fn load_b4(i: u32) -> vec4<f32> { return widen_bf16x4(b[i >> 2u]); }
#else
@group(0) @binding(2) var<storage, read> b: array<u32>;
fn load_b(i: u32) -> f32 { return widen_bf16(b[i >> 1u], i); }
#endif
#else
#if VEC_B
@group(0) @binding(2) var<storage, read> b: array<vec4<TB>>;
fn load_b4(i: u32) -> vec4<f32> { return vec4<f32>(b[i >> 2u]); }
#else
@group(0) @binding(2) var<storage, read> b: array<TB>;
fn load_b(i: u32) -> f32 { return f32(b[i]); }
#endif
#endif

// Bias and residual are bound to a placeholder when their flag is off. With VEC_EPI each thread's
// four adjacent outputs move as one vec4. Measured on an H100: with bias and residual the scalar
// epilogue ran at 2 TFLOP/s (f32 and f16, against 34 with VEC_EPI; the GPT's residual projections
// took 58% of an f32 training step); without them VEC_EPI gained nothing in f32 and cost f16
// outputs a third (27.7 against 40.5 TFLOP/s at 4096^3), so the host sets it only with bias or
// residual.
#if VEC_EPI
alias EV = vec4<f32>;
alias ET = vec4<TC>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<TC>>;
@group(0) @binding(4) var<storage, read> bias: array<vec4<TBIAS>>;
@group(0) @binding(5) var<storage, read> residual: array<vec4<TC>>;
const EPI = 4u;
#else
alias EV = f32;
alias ET = TC;
@group(0) @binding(3) var<storage, read_write> c: array<TC>;
@group(0) @binding(4) var<storage, read> bias: array<TBIAS>;
@group(0) @binding(5) var<storage, read> residual: array<TC>;
const EPI = 1u;
#endif

// bf16 element i of a packed word (low half first).
fn widen_bf16(w: u32, i: u32) -> f32 {
  return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
}
fn widen_bf16x4(w: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(bitcast<f32>(w.x << 16u), bitcast<f32>(w.x & 0xffff0000u),
                   bitcast<f32>(w.y << 16u), bitcast<f32>(w.y & 0xffff0000u));
}

// GPT-2's tanh approximation; the argument is clamped because tanh overflows on some drivers.
fn gelu(x: EV) -> EV {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), EV(-15.0), EV(15.0));
  return 0.5 * x * (1.0 + tanh(u));
}

const WX = BN / TN;          // threads along N
const WY = BM / TM;          // threads along M
const THREADS = WX * WY;
const LA = BM * BK / (4u * THREADS);  // groups of 4 A elements each thread stages per step
const LB = BN * BK / (4u * THREADS);
const A_STAGE = BK * BM / 4u;         // one buffer, in vec4s: As[k][m]
const B_STAGE = BK * BN / 4u;         // Bs[k][n]

var<workgroup> As: array<vec4<f32>, 2u * A_STAGE>;
var<workgroup> Bs: array<vec4<f32>, 2u * B_STAGE>;
var<private> ra: array<vec4<f32>, LA>;
var<private> rb: array<vec4<f32>, LB>;

// Loads A's (BM x BK) tile at (m0, k0) into registers, zero outside the matrix.
fn fetch_a(tid: u32, base: u32, m0: u32, k0: u32) {
  for (var i = 0u; i < LA; i++) {
    var x = vec4<f32>(0.0);
#if VEC_A
    let v = tid + i * THREADS;
#if TRANS_A
    let k = k0 + v / (BM / 4u);
    let m = m0 + (v % (BM / 4u)) * 4u;
    if (k < p.k && m < p.m) { x = load_a4(base + k * p.lda + m); }
#else
    let m = m0 + v / (BK / 4u);
    let k = k0 + (v % (BK / 4u)) * 4u;
    if (m < p.m && k < p.k) { x = load_a4(base + m * p.lda + k); }
#endif
#else
    for (var j = 0u; j < 4u; j++) {
      let e = tid + (i * 4u + j) * THREADS;
#if TRANS_A
      let k = k0 + e / BM;
      let m = m0 + e % BM;
      if (k < p.k && m < p.m) { x[j] = load_a(base + k * p.lda + m); }
#else
      let m = m0 + e / BK;
      let k = k0 + e % BK;
      if (m < p.m && k < p.k) { x[j] = load_a(base + m * p.lda + k); }
#endif
    }
#endif
    ra[i] = x;
  }
}

// Writes the registers of fetch_a into As[buf] as [k][m].
fn stash_a(tid: u32, buf: u32) {
  let s = buf * A_STAGE;
  for (var i = 0u; i < LA; i++) {
#if VEC_A
    let v = tid + i * THREADS;
#if TRANS_A
    As[s + v] = ra[i];
#else
    let m = v / (BK / 4u);
    let k = (v % (BK / 4u)) * 4u;
    for (var j = 0u; j < 4u; j++) { As[s + (k + j) * (BM / 4u) + m / 4u][m % 4u] = ra[i][j]; }
#endif
#else
    for (var j = 0u; j < 4u; j++) {
      let e = tid + (i * 4u + j) * THREADS;
#if TRANS_A
      let k = e / BM;
      let m = e % BM;
#else
      let m = e / BK;
      let k = e % BK;
#endif
      As[s + k * (BM / 4u) + m / 4u][m % 4u] = ra[i][j];
    }
#endif
  }
}

// Loads B's (BK x BN) tile at (k0, n0) into registers, zero outside the matrix.
fn fetch_b(tid: u32, base: u32, k0: u32, n0: u32) {
  for (var i = 0u; i < LB; i++) {
    var x = vec4<f32>(0.0);
#if VEC_B
    let v = tid + i * THREADS;
#if TRANS_B
    let n = n0 + v / (BK / 4u);
    let k = k0 + (v % (BK / 4u)) * 4u;
    if (n < p.n && k < p.k) { x = load_b4(base + n * p.ldb + k); }
#else
    let k = k0 + v / (BN / 4u);
    let n = n0 + (v % (BN / 4u)) * 4u;
    if (k < p.k && n < p.n) { x = load_b4(base + k * p.ldb + n); }
#endif
#else
    for (var j = 0u; j < 4u; j++) {
      let e = tid + (i * 4u + j) * THREADS;
#if TRANS_B
      let n = n0 + e / BK;
      let k = k0 + e % BK;
      if (n < p.n && k < p.k) { x[j] = load_b(base + n * p.ldb + k); }
#else
      let k = k0 + e / BN;
      let n = n0 + e % BN;
      if (k < p.k && n < p.n) { x[j] = load_b(base + k * p.ldb + n); }
#endif
    }
#endif
    rb[i] = x;
  }
}

// Writes the registers of fetch_b into Bs[buf] as [k][n].
fn stash_b(tid: u32, buf: u32) {
  let s = buf * B_STAGE;
  for (var i = 0u; i < LB; i++) {
#if VEC_B
    let v = tid + i * THREADS;
#if TRANS_B
    let n = v / (BK / 4u);
    let k = (v % (BK / 4u)) * 4u;
    for (var j = 0u; j < 4u; j++) { Bs[s + (k + j) * (BN / 4u) + n / 4u][n % 4u] = rb[i][j]; }
#else
    Bs[s + v] = rb[i];
#endif
#else
    for (var j = 0u; j < 4u; j++) {
      let e = tid + (i * 4u + j) * THREADS;
#if TRANS_B
      let n = e / BK;
      let k = e % BK;
#else
      let k = e / BN;
      let n = e % BN;
#endif
      Bs[s + k * (BN / 4u) + n / 4u][n % 4u] = rb[i][j];
    }
#endif
  }
}

// Output (m, n..n+EPI-1) from its accumulator(s); element offsets are divided by EPI to index.
fn epilogue(z: u32, m: u32, n: u32, acc: EV) {
  let at = (p.off_c + z * p.bsc + m * p.ldc + n) / EPI;
  var v = p.alpha * acc;
#if BETA
  v += p.beta * EV(c[at]);
#endif
#if BIAS
  v += EV(bias[(p.off_bias + n) / EPI]);
#endif
#if GELU
  v = gelu(v);
#endif
#if RESIDUAL
  v += EV(residual[(p.off_r + z * p.bsr + m * p.ldr + n) / EPI]);
#endif
  c[at] = ET(v);
}

// With p.lower_a set, op(A) is zero above its diagonal (the host's lowerTriangularA): a tile of
// rows m0 .. m0+BM-1 stops at column m0+BM (a multiple of BK), and reads nothing past it.
fn k_end(m0: u32) -> u32 {
  if (p.lower_a != 0u) { return min(p.k, m0 + BM); }
  return p.k;
}

// Workgroups run roughly in launch order; walking tiles in bands of GROUP_M tile-rows, column by
// column, keeps the B panels that neighbouring workgroups share in L2 (large products lose half
// their speed without it). Returns (tile column, tile row) for this workgroup.
const GROUP_M = 8u;
fn tile_of(wg: vec2<u32>, nwg: vec2<u32>) -> vec2<u32> {
  let linear = wg.y * nwg.x + wg.x;
  let band = linear / (GROUP_M * nwg.x);
  let first = band * GROUP_M;
  let rows = min(GROUP_M, nwg.y - first);
  let within = linear - band * GROUP_M * nwg.x;
  return vec2<u32>(within / rows, first + within % rows);
}

@compute @workgroup_size(BN / TN, BM / TM)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let z = wg.z;
  let tile = tile_of(wg.xy, nwg.xy);
  let m0 = tile.y * BM;
  let n0 = tile.x * BN;
  let base_a = p.off_a + z * p.bsa;
  let base_b = p.off_b + z * p.bsb;
  let tx = lid.x;
  let ty = lid.y;

  var acc: array<vec4<f32>, TM * TN / 4u>;
  let steps = (k_end(m0) + BK - 1u) / BK;
  fetch_a(tid, base_a, m0, 0u);
  fetch_b(tid, base_b, 0u, n0);
  stash_a(tid, 0u);
  stash_b(tid, 0u);
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let buf = s & 1u;
    let more = s + 1u < steps;
    if (more) {
      fetch_a(tid, base_a, m0, (s + 1u) * BK);
      fetch_b(tid, base_b, (s + 1u) * BK, n0);
    }
    let sa = buf * A_STAGE;
    let sb = buf * B_STAGE;
    for (var kk = 0u; kk < BK; kk++) {
      var ar: array<vec4<f32>, TM / 4u>;
      var br: array<vec4<f32>, TN / 4u>;
      for (var q = 0u; q < TM / 4u; q++) { ar[q] = As[sa + kk * (BM / 4u) + ty + q * WY]; }
      for (var q = 0u; q < TN / 4u; q++) { br[q] = Bs[sb + kk * (BN / 4u) + tx + q * WX]; }
      for (var i = 0u; i < TM; i++) {
        let av = vec4<f32>(ar[i / 4u][i % 4u]);
        for (var q = 0u; q < TN / 4u; q++) { acc[i * (TN / 4u) + q] = fma(av, br[q], acc[i * (TN / 4u) + q]); }
      }
    }
    if (more) {
      stash_a(tid, buf ^ 1u);
      stash_b(tid, buf ^ 1u);
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + (ty + (i / 4u) * WY) * 4u + i % 4u;
    if (m >= p.m) { continue; }
    for (var q = 0u; q < TN / 4u; q++) {
      let n = n0 + (tx + q * WX) * 4u;
#if VEC_EPI
      if (n < p.n) { epilogue(z, m, n, acc[i * (TN / 4u) + q]); }
#else
      for (var j = 0u; j < 4u; j++) {
        if (n + j < p.n) { epilogue(z, m, n + j, acc[i * (TN / 4u) + q][j]); }
      }
#endif
    }
  }
}
