// GEMM on tensor cores (chromium-experimental-subgroup-matrix), f16 inputs, f32 accumulation:
// C = alpha * op(A) * op(B) + beta * C + bias, then GELU, then + residual (as shaders/gemm.wgsl).
//
// Layout: as shaders/gemm.wgsl (offsets, leading dimensions and batch strides in elements,
// batch z = workgroup_id.z), with A and B read 8 halves at a time: their offsets, leading
// dimensions and contiguous dimension must be multiples of 8 (the host checks; other shapes
// take the tiled kernel). Loads are guarded (zero outside the matrix) and so are stores, so any
// M, N, K is safe without robustness checks.
//
// A workgroup of SG_M x SG_N subgroups (SUB invocations each) computes a BM x BN tile; each
// subgroup a (BM/SG_M) x (BN/SG_N) block of FRAG_M x FRAG_N result matrices. K advances BK at a
// time: the next step's global loads go to registers before the current step's multiplies,
// then to workgroup memory (STAGES = 2: a second buffer, one barrier per step; STAGES = 1: two
// barriers). Results leave through a per-subgroup scratch matrix in workgroup memory, where
// every invocation applies the epilogue to its elements.
//
// This file is the template; `main`, with every fragment and accumulator as its own unrolled
// variable, is generated per tile shape by gemm_subgroup_matrix.gen.ts and appended.
// Spec: enable f16, chromium_experimental_subgroup_matrix; alias TC (output, C, residual),
//   TBIAS; const BM, BN, BK, SUB, SG_M, SG_N, FRAG_M, FRAG_N, FRAG_K, PAD, STAGES;
//   flags TRANS_A, TRANS_B, BETA, BIAS, GELU, RESIDUAL, VEC_EPI.

struct Params {
  m: u32, n: u32, k: u32, lower_a: u32,   // lower_a: see k_end()
  lda: u32, ldb: u32, ldc: u32, ldr: u32,
  off_a: u32, off_b: u32, off_c: u32, off_r: u32,
  bsa: u32, bsb: u32, bsc: u32, bsr: u32,
  alpha: f32, beta: f32, off_bias: u32, _pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<u32>>;  // 8 halves per element
@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;
// With flag VEC_EPI (C, bias and residual rows, offsets and strides multiples of 4, N a multiple
// of EPI_RUN) the epilogue moves C, bias and residual four elements at a time: each invocation
// owns EPI_RUN adjacent elements of a result row instead of scattered single ones.
#if VEC_EPI
alias EV = vec4<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<TC>>;
@group(0) @binding(4) var<storage, read> bias: array<vec4<TBIAS>>;   // a placeholder when unused
@group(0) @binding(5) var<storage, read> residual: array<vec4<TC>>;
#else
alias EV = f32;
@group(0) @binding(3) var<storage, read_write> c: array<TC>;
@group(0) @binding(4) var<storage, read> bias: array<TBIAS>;   // a placeholder when unused
@group(0) @binding(5) var<storage, read> residual: array<TC>;
#endif

const THREADS = SG_M * SG_N * SUB;
const FRAG = FRAG_M * FRAG_N;

// Workgroup-memory tiles keep the global layout (rows padded by PAD halves against bank
// conflicts); fragments of a transposed operand are loaded column-major.
#if TRANS_A
const SA = BM + PAD;          // As[k][m]
const A_SIZE = BK * SA;
const A_COL_MAJOR = true;
fn a_frag(stage: u32, m: u32, k: u32) -> u32 { return stage * A_SIZE + k * SA + m; }
#else
const SA = BK + PAD;          // As[m][k]
const A_SIZE = BM * SA;
const A_COL_MAJOR = false;
fn a_frag(stage: u32, m: u32, k: u32) -> u32 { return stage * A_SIZE + m * SA + k; }
#endif
#if TRANS_B
const SB = BK + PAD;          // Bs[n][k]
const B_SIZE = BN * SB;
const B_COL_MAJOR = true;
fn b_frag(stage: u32, k: u32, n: u32) -> u32 { return stage * B_SIZE + n * SB + k; }
#else
const SB = BN + PAD;          // Bs[k][n]
const B_SIZE = BK * SB;
const B_COL_MAJOR = false;
fn b_frag(stage: u32, k: u32, n: u32) -> u32 { return stage * B_SIZE + k * SB + n; }
#endif

var<workgroup> As: array<f16, STAGES * A_SIZE>;
var<workgroup> Bs: array<f16, STAGES * B_SIZE>;
var<workgroup> Cs: array<f32, SG_M * SG_N * FRAG>;

const LA = BM * BK / (8u * THREADS);  // 8-half chunks each invocation stages per step
const LB = BN * BK / (8u * THREADS);
var<private> ra: array<vec4<u32>, LA>;
var<private> rb: array<vec4<u32>, LB>;
// Bit i: chunk i of the fetch lies inside the matrix; the others were read from element 0 and are
// staged as zeros. Every load is unconditional, straight into its register: a load guarded by an
// `if` ended in a merge of the loaded and the zero value, which the compiler placed right after the
// load, so each step waited there for global memory instead of multiplying meanwhile.
var<private> inside_a: u32;
var<private> inside_b: u32;

fn fetch_a(tid: u32, base: u32, m0: u32, k0: u32) {
  inside_a = 0u;
  for (var i = 0u; i < LA; i++) {
    let v = tid + i * THREADS;
#if TRANS_A
    let k = k0 + v / (BM / 8u);
    let m = m0 + (v % (BM / 8u)) * 8u;
    let at = base + k * p.lda + m;
#else
    let m = m0 + v / (BK / 8u);
    let k = k0 + (v % (BK / 8u)) * 8u;
    let at = base + m * p.lda + k;
#endif
    let inside = m < p.m && k < p.k;
    inside_a |= select(0u, 1u << i, inside);
    ra[i] = a[select(0u, at >> 3u, inside)];
  }
}

fn fetch_b(tid: u32, base: u32, k0: u32, n0: u32) {
  inside_b = 0u;
  for (var i = 0u; i < LB; i++) {
    let v = tid + i * THREADS;
#if TRANS_B
    let n = n0 + v / (BK / 8u);
    let k = k0 + (v % (BK / 8u)) * 8u;
    let at = base + n * p.ldb + k;
#else
    let k = k0 + v / (BN / 8u);
    let n = n0 + (v % (BN / 8u)) * 8u;
    let at = base + k * p.ldb + n;
#endif
    let inside = n < p.n && k < p.k;
    inside_b |= select(0u, 1u << i, inside);
    rb[i] = b[select(0u, at >> 3u, inside)];
  }
}

fn stash_a(tid: u32, stage: u32) {
  for (var i = 0u; i < LA; i++) {
    let v = tid + i * THREADS;
#if TRANS_A
    let o = a_frag(stage, (v % (BM / 8u)) * 8u, v / (BM / 8u));
#else
    let o = a_frag(stage, v / (BK / 8u), (v % (BK / 8u)) * 8u);
#endif
    let x = select(vec4<u32>(0u), ra[i], (inside_a & (1u << i)) != 0u);
    for (var j = 0u; j < 4u; j++) {
      let h = bitcast<vec2<f16>>(x[j]);
      As[o + 2u * j] = h.x;
      As[o + 2u * j + 1u] = h.y;
    }
  }
}

fn stash_b(tid: u32, stage: u32) {
  for (var i = 0u; i < LB; i++) {
    let v = tid + i * THREADS;
#if TRANS_B
    let o = b_frag(stage, (v % (BK / 8u)) * 8u, v / (BK / 8u));
#else
    let o = b_frag(stage, v / (BN / 8u), (v % (BN / 8u)) * 8u);
#endif
    let x = select(vec4<u32>(0u), rb[i], (inside_b & (1u << i)) != 0u);
    for (var j = 0u; j < 4u; j++) {
      let h = bitcast<vec2<f16>>(x[j]);
      Bs[o + 2u * j] = h.x;
      Bs[o + 2u * j + 1u] = h.y;
    }
  }
}

// GPT-2's tanh approximation; the argument is clamped because tanh overflows on some drivers.
fn gelu(x: EV) -> EV {
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), EV(-15.0), EV(15.0));
  return 0.5 * x * (1.0 + tanh(u));
}

// Applies the epilogue to the result matrix a subgroup left in its scratch slot; (m0, n0) is
// the matrix's top-left element in C.
#if VEC_EPI
const EPI_RUN = FRAG / SUB;   // adjacent elements per invocation, a multiple of 4
fn write_fragment(z: u32, sg: u32, lane: u32, m0: u32, n0: u32) {
  let e = lane * EPI_RUN;
  let m = m0 + e / FRAG_N;
  let n = n0 + e % FRAG_N;
  if (m >= p.m || n >= p.n) { return; }
  let at = (p.off_c + z * p.bsc + m * p.ldc + n) / 4u;
  for (var q = 0u; q < EPI_RUN / 4u; q++) {
    let s = sg * FRAG + e + 4u * q;
    var v = p.alpha * EV(Cs[s], Cs[s + 1u], Cs[s + 2u], Cs[s + 3u]);
#if BETA
    v += p.beta * EV(c[at + q]);
#endif
#if BIAS
    v += EV(bias[(p.off_bias + n) / 4u + q]);
#endif
#if GELU
    v = gelu(v);
#endif
#if RESIDUAL
    v += EV(residual[(p.off_r + z * p.bsr + m * p.ldr + n) / 4u + q]);
#endif
    c[at + q] = vec4<TC>(v);
  }
}
#else
fn write_fragment(z: u32, sg: u32, lane: u32, m0: u32, n0: u32) {
  for (var e = lane; e < FRAG; e += SUB) {
    let m = m0 + e / FRAG_N;
    let n = n0 + e % FRAG_N;
    if (m >= p.m || n >= p.n) { continue; }
    let at = p.off_c + z * p.bsc + m * p.ldc + n;
    var v = p.alpha * Cs[sg * FRAG + e];
#if BETA
    v += p.beta * f32(c[at]);
#endif
#if BIAS
    v += f32(bias[p.off_bias + n]);
#endif
#if GELU
    v = gelu(v);
#endif
#if RESIDUAL
    v += f32(residual[p.off_r + z * p.bsr + m * p.ldr + n]);
#endif
    c[at] = TC(v);
  }
}
#endif

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

// ---- generated main follows ----
