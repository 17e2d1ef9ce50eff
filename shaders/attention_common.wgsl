// Shared by the fused attention kernels (attention_forward, attention_dkdv, attention_dq): the
// parameters, the mask and strided row addressing. The host prepends this file to each kernel.
//
// Layout: q [B, H, Tq, D], k and v [B, H, Tk, D], dO like q. Each input is a strided view whose
// last dimension is contiguous: element (b, h, t, d) sits at l.x + b*l.y + h*l.z + t*l.w + d for
// its layout vector l = (offset, stride_b, stride_h, stride_t), so q/k/v may be permuted views of
// a fused [B, T, 3, H, D] projection. Outputs are contiguous.
//
// Mask (the same description serves causal, bidirectional, prefix LM, padding, GLM blank
// infilling, encoder-decoder cross-attention and packed sequences):
//   query i of batch row b may attend key j  iff
//       j < key_len[b]
//   &&  (!CAUSAL   || j <= i + causal_offset || j < prefix_len[b])
//   &&  (!SEGMENTS || seg_q[b, i] == seg_k[b, j])
// causal_offset is a uniform (usually Tk - Tq: the queries are the last Tq positions).
// With flag ROW_LENGTHS, mask_words (u32) holds prefix_len [B] at 0 and key_len [B] at B;
// with SEGMENTS it also holds seg_q [B, Tq] at 2B and seg_k [B, Tk] after it. Without
// ROW_LENGTHS, prefix_len = 0 and key_len = Tk (mask_words is bound but not read).
// A row that may attend no key gets o = 0, lse = -inf and zero gradients.
// Each kernel declares `mask_words` as its last binding.
//
// Spec (all kernels): alias T (f32 or f16 storage; arithmetic in f32), const D (head dim <= 128),
// flags CAUSAL, ROW_LENGTHS, SEGMENTS.

struct Params {
  heads: u32, tq: u32, tk: u32, batch: u32,
  scale: f32, causal_offset: i32, minus_inf: f32, _p1: u32,   // minus_inf = -inf: WGSL has no such constant
  q_l: vec4<u32>, k_l: vec4<u32>, v_l: vec4<u32>, do_l: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;

const D4 = (D + 3u) / 4u;         // head dim in vec4s (zero-padded in workgroup tiles)
const DP4 = D4 + 1u;              // row stride of tiles read down columns: one spare vec4 avoids bank conflicts
const NEG = -3.0e38;              // "no score yet"; finite, so no inf arithmetic is needed

fn row_at(l: vec4<u32>, b: u32, h: u32, t: u32) -> u32 {
  return l.x + b * l.y + h * l.z + t * l.w;
}

fn prefix_len(b: u32) -> u32 {
#if ROW_LENGTHS
  return mask_words[b];
#else
  return 0u;
#endif
}

fn key_len(b: u32) -> u32 {
#if ROW_LENGTHS
  return min(mask_words[p.batch + b], p.tk);
#else
  return p.tk;
#endif
}

fn seg_q(b: u32, i: u32) -> u32 {
#if SEGMENTS
  return mask_words[2u * p.batch + b * p.tq + i];
#else
  return 0u;
#endif
}

fn seg_k(b: u32, j: u32) -> u32 {
#if SEGMENTS
  return mask_words[2u * p.batch + p.batch * p.tq + b * p.tk + j];
#else
  return 0u;
#endif
}

/** The mask rule above, for a query i < Tq and key j (any j; keys >= key_len are refused). */
fn may_attend(i: u32, j: u32, prefix: u32, klen: u32, sq: u32, sk: u32) -> bool {
  var ok = j < klen && sq == sk;
#if CAUSAL
  ok = ok && (i32(j) <= i32(i) + p.causal_offset || j < prefix);
#endif
  return ok;
}

/** One past the last key that any query <= i_last may attend (uniform: tiles beyond it are skipped). */
fn key_end(i_last: u32, prefix: u32, klen: u32) -> u32 {
#if CAUSAL
  let causal_end = u32(max(i32(i_last) + p.causal_offset + 1, 0));
  return min(klen, max(causal_end, prefix));
#else
  return klen;
#endif
}

/** The first query that may attend any key >= j0 (uniform: earlier query tiles are skipped). */
fn query_begin(j0: u32, prefix: u32) -> u32 {
#if CAUSAL
  if (j0 < prefix) { return 0u; }
  return u32(clamp(i32(j0) - p.causal_offset, 0, i32(p.tq)));
#else
  return 0u;
#endif
}
