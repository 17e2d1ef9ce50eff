// Fused attention backward, query side: dq for one tile of BMQ = RG*TM query rows of one (b, h)
// per workgroup, streaming key/value tiles of BNK keys (a separate pass from dk/dv so that no
// float atomics are needed and the result is deterministic). Per key tile:
//   P = exp(scale * q k^T - lse),  dS = P * (dO v^T - delta),  dq += scale * dS k.
// stats [B, H, Tq] holds (lse, delta) per query row (attention_delta.wgsl writes it).
// Layout and mask: see attention_common.wgsl (prepended). Output dq [B, H, Tq, D] (T, strided:
// layout p.dq_l).
//
// Threads form an RG x NX grid: thread (ty, tx) owns query rows ty*TM + r; for scores it owns
// keys tx + c*NX (c < TN = BNK/NX), for dq the vec4 columns tx + kk*NX.
// Spec: common spec plus consts RG, TM, NX, BNK (a multiple of NX and of 4).

@group(0) @binding(5) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> dq: array<T>;
@group(0) @binding(7) var<storage, read> mask_words: array<u32>;

const BMQ = RG * TM;
const NT = RG * NX;
const TN = BNK / NX;
const TD4 = (D4 + NX - 1u) / NX;
const PS4 = BNK / 4u + 1u;   // row stride of ds_sh in vec4s (a spare vec4 spreads rows over the banks)

var<workgroup> q_sh: array<vec4<f32>, BMQ * D4>;
var<workgroup> do_sh: array<vec4<f32>, BMQ * D4>;
var<workgroup> k_sh: array<vec4<f32>, BNK * DP4>;
var<workgroup> v_sh: array<vec4<f32>, BNK * DP4>;
var<workgroup> ds_sh: array<vec4<f32>, BMQ * PS4>;   // dS, read four keys at a time

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let i0 = (nwg.x - 1u - wg.x) * BMQ;
  let h = wg.y;
  let b = wg.z;
  let bh = b * p.heads + h;
  let ty = t / NX;
  let tx = t % NX;

  for (var e = t; e < BMQ * D4; e += NT) {
    let i = i0 + e / D4;
    var qx = vec4<f32>();
    var ox = vec4<f32>();
    if (i < p.tq) {
      qx = load_q(row_at(p.q_l, b, h, i), e % D4);
      ox = load_do(row_at(p.do_l, b, h, i), e % D4);
    }
    q_sh[e] = qx;
    do_sh[e] = ox;
  }

  let prefix = prefix_len(b);
  let klen = key_len(b);
  let end = key_end(min(i0 + BMQ, p.tq) - 1u, prefix, klen);
  var sq = array<u32, TM>();
  var st = array<vec2<f32>, TM>();
  for (var r = 0u; r < TM; r++) {
    let i = min(i0 + ty * TM + r, p.tq - 1u);
    sq[r] = seg_q(b, i);
    st[r] = stats[bh * p.tq + i];
  }

  var acc = array<array<vec4<f32>, TD4>, TM>();

  for (var j0 = 0u; j0 < end; j0 += BNK) {
    workgroupBarrier();   // the previous tile's dS k is done with k_sh and ds_sh
    for (var e = t; e < BNK * D4; e += NT) {
      let j = j0 + e / D4;
      var kx = vec4<f32>();
      var vx = vec4<f32>();
      if (j < p.tk) {
        kx = load_k(row_at(p.k_l, b, h, j), e % D4);
        vx = load_v(row_at(p.v_l, b, h, j), e % D4);
      }
      k_sh[(e / D4) * DP4 + e % D4] = kx;
      v_sh[(e / D4) * DP4 + e % D4] = vx;
    }
    workgroupBarrier();

    var s = array<array<f32, TN>, TM>();
    var dp = array<array<f32, TN>, TM>();
    for (var d4 = 0u; d4 < p.d4; d4++) {
      var kc = array<vec4<f32>, TN>();
      var vc = array<vec4<f32>, TN>();
      for (var c = 0u; c < TN; c++) {
        kc[c] = k_sh[(tx + c * NX) * DP4 + d4];
        vc[c] = v_sh[(tx + c * NX) * DP4 + d4];
      }
      for (var r = 0u; r < TM; r++) {
        let qr = q_sh[(ty * TM + r) * D4 + d4];
        let orow = do_sh[(ty * TM + r) * D4 + d4];
        for (var c = 0u; c < TN; c++) {
          s[r][c] += dot(qr, kc[c]);
          dp[r][c] += dot(orow, vc[c]);
        }
      }
    }
    for (var c = 0u; c < TN; c++) {
      let j = j0 + tx + c * NX;
      let sk = seg_k(b, min(j, p.tk - 1u));
      for (var r = 0u; r < TM; r++) {
        let i = i0 + ty * TM + r;
        let ok = i < p.tq && may_attend(i, j, prefix, klen, sq[r], sk);
        // min(., 0) keeps exp finite (scores never exceed lse but for rounding; lse = -inf rows are all refused).
        let pr = select(0.0, exp(min(s[r][c] * p.scale - st[r].x, 0.0)), ok);
        let col = tx + c * NX;
        ds_sh[(ty * TM + r) * PS4 + col / 4u][col % 4u] = pr * (dp[r][c] - st[r].y);
      }
    }
    workgroupBarrier();

    let keys = min(BNK, end - j0);
    for (var j4 = 0u; j4 * 4u < keys; j4++) {
      var dsr = array<vec4<f32>, TM>();
      for (var r = 0u; r < TM; r++) { dsr[r] = ds_sh[(ty * TM + r) * PS4 + j4]; }
      for (var u = 0u; u < 4u; u++) {
        var kc = array<vec4<f32>, TD4>();
        for (var kk = 0u; kk < TD4; kk++) {
          let c4 = tx + kk * NX;
          if (c4 < D4) { kc[kk] = k_sh[(j4 * 4u + u) * DP4 + c4]; }
        }
        for (var r = 0u; r < TM; r++) {
          for (var kk = 0u; kk < TD4; kk++) { acc[r][kk] += dsr[r][u] * kc[kk]; }
        }
      }
    }
  }

  for (var r = 0u; r < TM; r++) {
    let i = i0 + ty * TM + r;
    if (i >= p.tq) { continue; }
    let base = row_at(p.dq_l, b, h, i);
    for (var kk = 0u; kk < TD4; kk++) {
      let c4 = tx + kk * NX;
      let g = acc[r][kk] * p.scale;
      for (var u = 0u; u < 4u; u++) {
        if (c4 < D4 && c4 * 4u + u < D) { dq[base + c4 * 4u + u] = T(g[u]); }
      }
    }
  }
}
