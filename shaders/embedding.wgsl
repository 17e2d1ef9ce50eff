// Embedding lookup and its deterministic backward pass.
//   GATHER     out[n, c] = table[ids[n], c] (+ pos[n % seq, c] with flag POSITIONAL), one thread
//              per element; an id >= vocab gives a NaN row so the mistake cannot pass unnoticed.
// Backward, dtable[v, c] = sum of dout[n, c] over the n with ids[n] = v, without float atomics:
//   COUNT      counts[id] += 1 per position (u32 atomics: exact).
//   SCAN       one workgroup: exclusive prefix sum, starts[v] (and starts[vocab] = total);
//              counts[v] is overwritten with starts[v], to serve as the fill cursor.
//   FILL       order[cursor[id]++] = n: each vocab row's positions, in arbitrary order.
//   SUM        one workgroup per vocab row: sorts its positions (bitonic network in place, so
//              the order no longer depends on atomics), then sums dout rows in that order.
//              Rows no id hits are written as zeros, so dtable needs no clearing.
//   POS_SUM    positional gradient: dpos[t, c] = sum_b dout[b, t, c] (0 for t >= seq).
// Ids out of range are skipped by the backward pass. Gradients are written as OUT (f32).
// Spec: alias T (table / dout storage), OUT (gradient storage); one stage flag; POSITIONAL.

struct Params { n: u32, channels: u32, vocab: u32, seq: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const WG = 256u;

#if GATHER
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<T>;
#if POSITIONAL
@group(0) @binding(3) var<storage, read> pos: array<T>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<T>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n * p.channels) { return; }
  let row = i / p.channels;
  let c = i - row * p.channels;
  let id = ids[row];
  if (id >= p.vocab) {
    let nan_bits = 0x7fc00000u;
    out[i] = T(bitcast<f32>(nan_bits));
    return;
  }
  var v = f32(table[id * p.channels + c]);
#if POSITIONAL
  v += f32(pos[(row % p.seq) * p.channels + c]);
#endif
  out[i] = T(v);
}
#endif

#if COUNT
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= p.n) { return; }
  let id = ids[n];
  if (id < p.vocab) { atomicAdd(&counts[id], 1u); }
}
#endif

#if SCAN
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> starts: array<u32>;

var<workgroup> part: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let chunk = (p.vocab + WG - 1u) / WG;
  let lo = min(t * chunk, p.vocab);
  let hi = min(lo + chunk, p.vocab);
  var s = 0u;
  for (var v = lo; v < hi; v++) { s += counts[v]; }
  part[t] = s;
  workgroupBarrier();
  if (t == 0u) {
    var run = 0u;
    for (var k = 0u; k < WG; k++) { let c = part[k]; part[k] = run; run += c; }
    starts[p.vocab] = run;
  }
  workgroupBarrier();
  var run = part[t];
  for (var v = lo; v < hi; v++) {
    let c = counts[v];
    starts[v] = run;
    counts[v] = run;
    run += c;
  }
}
#endif

#if FILL
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> cursor: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> order: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= p.n) { return; }
  let id = ids[n];
  if (id < p.vocab) { order[atomicAdd(&cursor[id], 1u)] = n; }
}
#endif

#if SUM
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read_write> order: array<u32>;
@group(0) @binding(3) var<storage, read> dout: array<T>;
@group(0) @binding(4) var<storage, read_write> dtable: array<OUT>;

fn compare_swap(a: u32, b: u32) {
  let x = order[a];
  let y = order[b];
  if (x > y) { order[a] = y; order[b] = x; }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let v = wg.x + wg.y * nwg.x;
  if (v >= p.vocab) { return; }   // uniform per workgroup
  let s = starts[v];
  let k = starts[v + 1u] - s;
  // Bitonic sort of order[s .. s+k), padded to a power of two with virtual +inf entries that
  // never move. Every stage compares ascending (the first step of a merge pairs i with its
  // mirror), so comparisons touching the padding can simply be skipped.
  var size = 2u;
  while (size < 2u * k) {
    let half_size = size / 2u;
    let pairs = ((k + size - 1u) / size) * half_size;
    for (var i = t; i < pairs; i += WG) {
      let lo = (i / half_size) * size + i % half_size;
      let hi = (i / half_size) * size + size - 1u - i % half_size;
      if (hi < k) { compare_swap(s + lo, s + hi); }
    }
    storageBarrier();
    for (var stride = half_size / 2u; stride > 0u; stride >>= 1u) {
      for (var i = t; i < pairs; i += WG) {
        let lo = (i / stride) * 2u * stride + i % stride;
        if (lo + stride < k) { compare_swap(s + lo, s + lo + stride); }
      }
      storageBarrier();
    }
    size <<= 1u;
  }
  for (var c = t; c < p.channels; c += WG) {
    var acc = 0.0;
    for (var j = 0u; j < k; j++) { acc += f32(dout[order[s + j] * p.channels + c]); }
    dtable[v * p.channels + c] = OUT(acc);
  }
}
#endif

#if POS_SUM
// p.n = batch count, p.vocab = rows of dpos (max positions), p.seq = positions per sequence.
@group(0) @binding(1) var<storage, read> dout: array<T>;
@group(0) @binding(2) var<storage, read_write> dpos: array<OUT>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.vocab * p.channels) { return; }
  let t = i / p.channels;
  let c = i - t * p.channels;
  var acc = 0.0;
  if (t < p.seq) {
    for (var b = 0u; b < p.n; b++) { acc += f32(dout[(b * p.seq + t) * p.channels + c]); }
  }
  dpos[i] = OUT(acc);
}
#endif
