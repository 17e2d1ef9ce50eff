// Fused attention forward, flash style: o = softmax(scale * q k^T + mask) v and the row
// log-sum-exp lse = log(sum_j exp(scale * q_i . k_j)) over allowed keys (f32; -inf for a row that
// may attend nothing, whose o is 0). No Tq x Tk matrix is stored: each workgroup owns BM = RG*TM
// query rows of one (b, h), keeps them in workgroup memory and streams key/value tiles of BN keys
// through it with an online softmax (running max m, running sum l, rescaled accumulator).
// Layout and mask: see attention_common.wgsl (prepended). Outputs: o [B, H, Tq, D] (T, strided: layout
// p.o_l), lse [B, H, Tq] (contiguous).
//
// Threads form an RG x NX grid. Thread (ty, tx) owns query rows ty*TM + r (r < TM); for scores it
// owns keys tx + c*NX (c < TN = BN/NX), for the output vec4 columns tx + k*NX (k < TD4). Per key
// tile: S = Q K^T (TM x TN per thread, vec4 dot products from workgroup memory), row maxima
// exchanged through workgroup memory, P = exp(S - m) stored to workgroup memory, then V is loaded
// over K and O += P V. Workgroups are launched latest-query-tile first, since under a causal mask
// those have the most keys.
// Spec: common spec plus consts RG, TM, NX, BN (BN a multiple of NX and of 4).

@group(0) @binding(4) var<storage, read_write> o: array<T>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read> mask_words: array<u32>;

const BM = RG * TM;
const NT = RG * NX;
const TN = BN / NX;
const TD4 = (D4 + NX - 1u) / NX;
const PS4 = BN / 4u + 1u;   // row stride of p_sh in vec4s (a spare vec4 spreads rows over the banks)
const RS = NX + 1u;         // row stride of row_sh (likewise)

var<workgroup> q_sh: array<vec4<f32>, BM * D4>;
var<workgroup> kv_sh: array<vec4<f32>, BN * DP4>;
var<workgroup> p_sh: array<vec4<f32>, BM * PS4>;   // P, read four keys at a time
var<workgroup> row_sh: array<f32, BM * RS>;        // per-thread partial row maxima, then row sums

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let i0 = (nwg.x - 1u - wg.x) * BM;
  let h = wg.y;
  let b = wg.z;
  let ty = t / NX;
  let tx = t % NX;

  for (var e = t; e < BM * D4; e += NT) {
    let i = i0 + e / D4;
    var x = vec4<f32>();
    if (i < p.tq) { x = load_q(row_at(p.q_l, b, h, i), e % D4); }
    q_sh[e] = x;
  }

  let prefix = prefix_len(b);
  let klen = key_len(b);
  let end = key_end(min(i0 + BM, p.tq) - 1u, prefix, klen);
  var sq = array<u32, TM>();
  for (var r = 0u; r < TM; r++) { sq[r] = seg_q(b, min(i0 + ty * TM + r, p.tq - 1u)); }

  var m = array<f32, TM>();
  var l = array<f32, TM>();          // this thread's share of the row sum (its keys only)
  var acc = array<array<vec4<f32>, TD4>, TM>();
  for (var r = 0u; r < TM; r++) { m[r] = NEG; }

  for (var j0 = 0u; j0 < end; j0 += BN) {
    workgroupBarrier();   // the previous tile's P V is done with kv_sh and p_sh
    for (var e = t; e < BN * D4; e += NT) {
      let j = j0 + e / D4;
      var x = vec4<f32>();
      if (j < p.tk) { x = load_k(row_at(p.k_l, b, h, j), e % D4); }
      kv_sh[(e / D4) * DP4 + e % D4] = x;
    }
    workgroupBarrier();

    var s = array<array<f32, TN>, TM>();
    for (var d4 = 0u; d4 < p.d4; d4++) {
      var kc = array<vec4<f32>, TN>();
      for (var c = 0u; c < TN; c++) { kc[c] = kv_sh[(tx + c * NX) * DP4 + d4]; }
      for (var r = 0u; r < TM; r++) {
        let qr = q_sh[(ty * TM + r) * D4 + d4];
        for (var c = 0u; c < TN; c++) { s[r][c] += dot(qr, kc[c]); }
      }
    }
    var allowed = array<array<bool, TN>, TM>();
    var sk = array<u32, TN>();
    for (var c = 0u; c < TN; c++) { sk[c] = seg_k(b, min(j0 + tx + c * NX, p.tk - 1u)); }
    for (var r = 0u; r < TM; r++) {
      let i = i0 + ty * TM + r;
      var mx = NEG;
      for (var c = 0u; c < TN; c++) {
        let ok = i < p.tq && may_attend(i, j0 + tx + c * NX, prefix, klen, sq[r], sk[c]);
        allowed[r][c] = ok;
        s[r][c] *= p.scale;
        if (ok) { mx = max(mx, s[r][c]); }
      }
      row_sh[(ty * TM + r) * RS + tx] = mx;
    }
    workgroupBarrier();   // row maxima visible; every thread is done reading K

    for (var e = t; e < BN * D4; e += NT) {
      let j = j0 + e / D4;
      var x = vec4<f32>();
      if (j < p.tk) { x = load_v(row_at(p.v_l, b, h, j), e % D4); }
      kv_sh[(e / D4) * DP4 + e % D4] = x;
    }
    for (var r = 0u; r < TM; r++) {
      let row = ty * TM + r;
      var m_new = m[r];
      for (var x = 0u; x < NX; x++) { m_new = max(m_new, row_sh[row * RS + x]); }
      let alpha = exp(m[r] - m_new);   // 1 while nothing is allowed yet, 0 on the first allowed key
      m[r] = m_new;
      l[r] *= alpha;
      for (var kk = 0u; kk < TD4; kk++) { acc[r][kk] *= alpha; }
      for (var c = 0u; c < TN; c++) {
        let pr = select(0.0, exp(s[r][c] - m_new), allowed[r][c]);
        l[r] += pr;
        let col = tx + c * NX;
        p_sh[row * PS4 + col / 4u][col % 4u] = pr;
      }
    }
    workgroupBarrier();   // P and V visible

    let keys = min(BN, end - j0);
    for (var j4 = 0u; j4 * 4u < keys; j4++) {
      var pr = array<vec4<f32>, TM>();
      for (var r = 0u; r < TM; r++) { pr[r] = p_sh[(ty * TM + r) * PS4 + j4]; }
      for (var u = 0u; u < 4u; u++) {
        var vc = array<vec4<f32>, TD4>();
        for (var kk = 0u; kk < TD4; kk++) {
          let c4 = tx + kk * NX;
          if (c4 < D4) { vc[kk] = kv_sh[(j4 * 4u + u) * DP4 + c4]; }
        }
        for (var r = 0u; r < TM; r++) {
          for (var kk = 0u; kk < TD4; kk++) { acc[r][kk] += pr[r][u] * vc[kk]; }
        }
      }
    }
  }

  // Row sums: add up the NX threads' shares.
  workgroupBarrier();
  for (var r = 0u; r < TM; r++) { row_sh[(ty * TM + r) * RS + tx] = l[r]; }
  workgroupBarrier();
  for (var r = 0u; r < TM; r++) {
    let row = ty * TM + r;
    let i = i0 + row;
    if (i >= p.tq) { continue; }
    var total = 0.0;
    for (var x = 0u; x < NX; x++) { total += row_sh[row * RS + x]; }
    let inv = select(0.0, 1.0 / total, total > 0.0);
    let ob = row_at(p.o_l, b, h, i);
    for (var kk = 0u; kk < TD4; kk++) {
      let c4 = tx + kk * NX;
      let y = acc[r][kk] * inv;
      for (var u = 0u; u < 4u; u++) {
        if (c4 < D4 && c4 * 4u + u < D) { o[ob + c4 * 4u + u] = T(y[u]); }
      }
    }
    if (tx == 0u) { lse[(b * p.heads + h) * p.tq + i] = select(p.minus_inf, m[r] + log(total), total > 0.0); }
  }
}
