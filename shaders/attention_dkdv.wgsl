// Fused attention backward, key side: dk and dv for one tile of BNK = RG*TM keys of one (b, h) per
// workgroup, streaming query tiles of BMQ queries (FlashAttention-2 order; no atomics, so the
// result is deterministic). Per query tile the probabilities are recomputed from the saved row
// log-sum-exp, P = exp(scale * q k^T - lse), and with delta_i = rowsum(dO_i * o_i):
//   dP = dO v^T,  dS = P * (dP - delta),  dv += P^T dO,  dk += scale * dS^T q.
// stats [B, H, Tq] holds (lse, delta) per query row (attention_delta.wgsl writes it).
// Layout and mask: see attention_common.wgsl (prepended). Outputs dk, dv [B, H, Tk, D] (T), strided
// views (layouts p.dk_l, p.dv_l) of the one buffer dk_dv: the model's fused qkv gradient holds both.
//
// Threads form an RG x NX grid: thread (ty, tx) owns keys ty*TM + r; for the transposed score
// tile it owns queries tx + c*NX (c < TN = BMQ/NX), for the gradients vec4 columns tx + kk*NX.
// Spec: common spec plus consts RG, TM, NX, BMQ (a multiple of NX and of 4).

@group(0) @binding(5) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> dk_dv: array<T>;
@group(0) @binding(7) var<storage, read> mask_words: array<u32>;

const BNK = RG * TM;
const NT = RG * NX;
const TN = BMQ / NX;
const TD4 = (D4 + NX - 1u) / NX;
const PS4 = BMQ / 4u + 1u;   // row stride of p_sh, ds_sh in vec4s (a spare vec4 spreads rows over the banks)

var<workgroup> k_sh: array<vec4<f32>, BNK * D4>;
var<workgroup> v_sh: array<vec4<f32>, BNK * D4>;
var<workgroup> q_sh: array<vec4<f32>, BMQ * DP4>;
var<workgroup> do_sh: array<vec4<f32>, BMQ * DP4>;
var<workgroup> p_sh: array<vec4<f32>, BNK * PS4>;    // P^T and dS^T, read four queries at a time
var<workgroup> ds_sh: array<vec4<f32>, BNK * PS4>;
var<workgroup> stat_sh: array<vec2<f32>, BMQ>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let j0 = wg.x * BNK;
  let h = wg.y;
  let b = wg.z;
  let bh = b * p.heads + h;
  let ty = t / NX;
  let tx = t % NX;

  for (var e = t; e < BNK * D4; e += NT) {
    let j = j0 + e / D4;
    var kx = vec4<f32>();
    var vx = vec4<f32>();
    if (j < p.tk) {
      kx = load_k(row_at(p.k_l, b, h, j), e % D4);
      vx = load_v(row_at(p.v_l, b, h, j), e % D4);
    }
    k_sh[e] = kx;
    v_sh[e] = vx;
  }

  let prefix = prefix_len(b);
  let klen = key_len(b);
  // Keys at or past key_len get no gradient: skip the whole loop when the tile is all such keys.
  var begin = query_begin(j0, prefix);
  if (j0 >= klen) { begin = p.tq; }
  var sk = array<u32, TM>();
  for (var r = 0u; r < TM; r++) { sk[r] = seg_k(b, min(j0 + ty * TM + r, p.tk - 1u)); }

  var dk_acc = array<array<vec4<f32>, TD4>, TM>();
  var dv_acc = array<array<vec4<f32>, TD4>, TM>();

  for (var i0 = begin; i0 < p.tq; i0 += BMQ) {
    workgroupBarrier();   // the previous tile's products are done with q_sh, do_sh, p_sh, ds_sh
    for (var e = t; e < BMQ * D4; e += NT) {
      let i = i0 + e / D4;
      var qx = vec4<f32>();
      var ox = vec4<f32>();
      if (i < p.tq) {
        qx = load_q(row_at(p.q_l, b, h, i), e % D4);
        ox = load_do(row_at(p.do_l, b, h, i), e % D4);
      }
      q_sh[(e / D4) * DP4 + e % D4] = qx;
      do_sh[(e / D4) * DP4 + e % D4] = ox;
    }
    for (var e = t; e < BMQ; e += NT) {
      var st = vec2<f32>(0.0);
      if (i0 + e < p.tq) { st = stats[bh * p.tq + i0 + e]; }
      stat_sh[e] = st;
    }
    workgroupBarrier();

    var s = array<array<f32, TN>, TM>();
    var dp = array<array<f32, TN>, TM>();
    for (var d4 = 0u; d4 < p.d4; d4++) {
      var qc = array<vec4<f32>, TN>();
      var oc = array<vec4<f32>, TN>();
      for (var c = 0u; c < TN; c++) {
        qc[c] = q_sh[(tx + c * NX) * DP4 + d4];
        oc[c] = do_sh[(tx + c * NX) * DP4 + d4];
      }
      for (var r = 0u; r < TM; r++) {
        let kr = k_sh[(ty * TM + r) * D4 + d4];
        let vr = v_sh[(ty * TM + r) * D4 + d4];
        for (var c = 0u; c < TN; c++) {
          s[r][c] += dot(kr, qc[c]);
          dp[r][c] += dot(vr, oc[c]);
        }
      }
    }
    for (var c = 0u; c < TN; c++) {
      let col = tx + c * NX;
      let i = i0 + col;
      let st = stat_sh[col];
      let sq = seg_q(b, min(i, p.tq - 1u));
      for (var r = 0u; r < TM; r++) {
        let ok = i < p.tq && may_attend(i, j0 + ty * TM + r, prefix, klen, sq, sk[r]);
        // min(., 0) keeps exp finite (scores never exceed lse but for rounding; lse = -inf rows are all refused).
        let pr = select(0.0, exp(min(s[r][c] * p.scale - st.x, 0.0)), ok);
        p_sh[(ty * TM + r) * PS4 + col / 4u][col % 4u] = pr;
        ds_sh[(ty * TM + r) * PS4 + col / 4u][col % 4u] = pr * (dp[r][c] - st.y);
      }
    }
    workgroupBarrier();

    let queries = min(BMQ, p.tq - i0);
    for (var i4 = 0u; i4 * 4u < queries; i4++) {
      var pr = array<vec4<f32>, TM>();
      var dsr = array<vec4<f32>, TM>();
      for (var r = 0u; r < TM; r++) {
        pr[r] = p_sh[(ty * TM + r) * PS4 + i4];
        dsr[r] = ds_sh[(ty * TM + r) * PS4 + i4];
      }
      for (var u = 0u; u < 4u; u++) {
        let c = i4 * 4u + u;
        var oc = array<vec4<f32>, TD4>();
        var qc = array<vec4<f32>, TD4>();
        for (var kk = 0u; kk < TD4; kk++) {
          let c4 = tx + kk * NX;
          if (c4 < D4) {
            oc[kk] = do_sh[c * DP4 + c4];
            qc[kk] = q_sh[c * DP4 + c4];
          }
        }
        for (var r = 0u; r < TM; r++) {
          for (var kk = 0u; kk < TD4; kk++) {
            dv_acc[r][kk] += pr[r][u] * oc[kk];
            dk_acc[r][kk] += dsr[r][u] * qc[kk];
          }
        }
      }
    }
  }

  for (var r = 0u; r < TM; r++) {
    let j = j0 + ty * TM + r;
    if (j >= p.tk) { continue; }
    let k_base = row_at(p.dk_l, b, h, j);
    let v_base = row_at(p.dv_l, b, h, j);
    for (var kk = 0u; kk < TD4; kk++) {
      let c4 = tx + kk * NX;
      let gk = dk_acc[r][kk] * p.scale;
      let gv = dv_acc[r][kk];
      for (var u = 0u; u < 4u; u++) {
        if (c4 < D4 && c4 * 4u + u < D) {
          dk_dv[k_base + c4 * 4u + u] = T(gk[u]);
          dk_dv[v_base + c4 * 4u + u] = T(gv[u]);
        }
      }
    }
  }
}
