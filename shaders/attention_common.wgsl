// Shared by the fused attention kernels (attention_forward, attention_dkdv, attention_dq): the
// parameters, the mask and strided row addressing. The host prepends this file to each kernel.
//
// Layout: q [B, H, Tq, D], k and v [B, H, Tk, D], dO like q. Each input is a strided view whose
// last dimension is contiguous: element (b, h, t, d) sits at l.x + b*l.y + h*l.z + t*l.w + d for
// its layout vector l = (offset, stride_b, stride_h, stride_t), so q/k/v may be permuted views of
// a fused [B, T, 3, H, D] projection. Outputs are strided views of the same kind, written one
// element at a time (so any offset works): o in the forward, dq in the dQ pass, dk and dv in the
// dK/dV pass, with layout vectors o_l, dq_l, dk_l, dv_l. dk and dv live in ONE buffer (one
// binding; WebGPU forbids two writable bindings of one buffer), so the model's fused
// [B, T, 3, H, D] gradient can take o's merged [B, T, H, D] rows and dq, dk, dv without copies.
// lse and the backward's stats are contiguous [B, H, Tq].
//
// Mask (the same description serves causal, bidirectional, prefix LM, padding, GLM blank
// infilling, encoder-decoder cross-attention and packed sequences):
//   query i of batch row b may attend key j  iff
//       j < key_len[b]
//   &&  (!CAUSAL   || j <= i + causal_offset || j < prefix_len[b])
//   &&  (!SEGMENTS || seg_q[b, i] == seg_k[b, j])
// CAUSAL, ROW_LENGTHS and SEGMENTS are bits of the uniform mask_bits (run-time, not variants: one
// compiled kernel serves every mask, and the branches on them are uniform). causal_offset is
// usually Tk - Tq: the queries are the last Tq positions.
// With ROW_LENGTHS, mask_words (u32) holds prefix_len [B] at 0 and key_len [B] at B; with
// SEGMENTS it also holds seg_q [B, Tq] at 2B and seg_k [B, Tk] after it. Without ROW_LENGTHS,
// prefix_len = 0 and key_len = Tk and mask_words (bound to any buffer) is not read.
// A row that may attend no key gets o = 0, lse = -inf and zero gradients.
// Each kernel declares `mask_words` as its last binding.
//
// Tiles in workgroup memory are f32 whatever T is: each element is converted once when a tile is
// loaded rather than by every thread that reads it.
// Inputs are read a vec4 at a time (flag VEC4) when D and every offset and stride are multiples of
// 4; otherwise element by element, with the part of the last vec4 past D left zero.
// Spec (all kernels): alias T (f32 or f16 storage; arithmetic in f32), const D (head dim <= 128),
// flags VEC4 and, for the backward passes (which also read dO), GRAD.

struct Params {
  heads: u32, tq: u32, tk: u32, batch: u32,
  scale: f32, causal_offset: i32, minus_inf: f32, mask_bits: u32,   // minus_inf = -inf: WGSL has no such constant
  // D4 as a uniform: head-dim loops run to it rather than to the constant, so that compilers do not
  // unroll them in full (that tripled compile time on the CPU adapter; each iteration already
  // holds TM*TN vec4 dot products).
  d4: u32, _p0: u32, _p1: u32, _p2: u32,
  q_l: vec4<u32>, k_l: vec4<u32>, v_l: vec4<u32>, do_l: vec4<u32>,
  // Output layouts (each pass reads only its own): 176 bytes in all, within the 256-byte uniform slot.
  o_l: vec4<u32>, dq_l: vec4<u32>, dk_l: vec4<u32>, dv_l: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;

const D4 = (D + 3u) / 4u;         // head dim in vec4s (zero-padded in workgroup tiles)
const DP4 = D4 + 1u;              // row stride of tiles read down columns: one spare vec4 avoids bank conflicts
const NEG = -3.0e38;              // "no score yet"; finite, so no inf arithmetic is needed
const CAUSAL = 1u;
const ROW_LENGTHS = 2u;
const SEGMENTS = 4u;

fn row_at(l: vec4<u32>, b: u32, h: u32, t: u32) -> u32 {
  return l.x + b * l.y + h * l.z + t * l.w;
}

fn has(bit: u32) -> bool {
  return (p.mask_bits & bit) != 0u;
}

fn prefix_len(b: u32) -> u32 {
  if (!has(ROW_LENGTHS)) { return 0u; }
  return mask_words[b];
}

fn key_len(b: u32) -> u32 {
  if (!has(ROW_LENGTHS)) { return p.tk; }
  return min(mask_words[p.batch + b], p.tk);
}

fn seg_q(b: u32, i: u32) -> u32 {
  if (!has(SEGMENTS)) { return 0u; }
  return mask_words[2u * p.batch + b * p.tq + i];
}

fn seg_k(b: u32, j: u32) -> u32 {
  if (!has(SEGMENTS)) { return 0u; }
  return mask_words[2u * p.batch + p.batch * p.tq + b * p.tk + j];
}

/** The mask rule above, for a query i < Tq and key j (any j; keys >= key_len are refused). */
fn may_attend(i: u32, j: u32, prefix: u32, klen: u32, sq: u32, sk: u32) -> bool {
  let causal_ok = !has(CAUSAL) || i32(j) <= i32(i) + p.causal_offset || j < prefix;
  return j < klen && sq == sk && causal_ok;
}

/** One past the last key that any query <= i_last may attend (uniform: tiles beyond it are skipped). */
fn key_end(i_last: u32, prefix: u32, klen: u32) -> u32 {
  if (!has(CAUSAL)) { return klen; }
  let causal_end = u32(max(i32(i_last) + p.causal_offset + 1, 0));
  return min(klen, max(causal_end, prefix));
}

/** The first query that may attend any key >= j0 (uniform: earlier query tiles are skipped). */
fn query_begin(j0: u32, prefix: u32) -> u32 {
  if (!has(CAUSAL) || j0 < prefix) { return 0u; }
  return u32(clamp(i32(j0) - p.causal_offset, 0, i32(p.tq)));
}

// Inputs q, k, v (and dO in the backward passes, flag GRAD) at bindings 1-4, read as vec4 rows
// when every row starts on a vec4 boundary (flag VEC4), and their row loaders: vec4 column c of
// the row starting at element rb, zero past D.
#if VEC4
@group(0) @binding(1) var<storage, read> q: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<T>>;
#if GRAD
@group(0) @binding(4) var<storage, read> d_o: array<vec4<T>>;
#endif
fn load_q(rb: u32, c: u32) -> vec4<f32> { return vec4<f32>(q[rb / 4u + c]); }
fn load_k(rb: u32, c: u32) -> vec4<f32> { return vec4<f32>(k[rb / 4u + c]); }
fn load_v(rb: u32, c: u32) -> vec4<f32> { return vec4<f32>(v[rb / 4u + c]); }
#if GRAD
fn load_do(rb: u32, c: u32) -> vec4<f32> { return vec4<f32>(d_o[rb / 4u + c]); }
#endif
#else
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
#if GRAD
@group(0) @binding(4) var<storage, read> d_o: array<T>;
#endif
fn load_q(rb: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var u = 0u; u < 4u; u++) { if (c * 4u + u < D) { x[u] = f32(q[rb + c * 4u + u]); } }
  return x;
}
fn load_k(rb: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var u = 0u; u < 4u; u++) { if (c * 4u + u < D) { x[u] = f32(k[rb + c * 4u + u]); } }
  return x;
}
fn load_v(rb: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var u = 0u; u < 4u; u++) { if (c * 4u + u < D) { x[u] = f32(v[rb + c * 4u + u]); } }
  return x;
}
#if GRAD
fn load_do(rb: u32, c: u32) -> vec4<f32> {
  var x = vec4<f32>();
  for (var u = 0u; u < 4u; u++) { if (c * 4u + u < D) { x[u] = f32(d_o[rb + c * 4u + u]); } }
  return x;
}
#endif
#endif
