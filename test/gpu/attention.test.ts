import { testGpu, randn } from '../helpers/gpu.js';
import { held, finiteDifferenceError, dot, type FloatDtype } from './nn-gradcheck.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ShapeError } from '../../src/errors.js';
import {
  AttentionMask, type AttentionMaskOptions, type AttentionTiles,
  attentionForward, attentionBackward, attentionForwardTiled, attentionBackwardTiled,
} from '../../src/nn/functional/attention.js';
import { type Case, allowedBy, normErr, reference } from '../helpers/attention64.js';

const gpu = await testGpu();

const tol = { f32: 2e-5, f16: 6e-3, bf16: 1e-2 };

interface RunOpts { scale?: number; tiles?: { forward: AttentionTiles; dkdv: AttentionTiles; dq: AttentionTiles } }

/** Runs forward and backward on the GPU and compares everything with the f64 reference. */
async function check(c: Case, m: AttentionMaskOptions, dtype: FloatDtype, seed: number, opts: RunOpts = {}) {
  const q = held(randn(c.b * c.h * c.tq * c.d, seed).map((x) => 2 * x), dtype);
  const k = held(randn(c.b * c.h * c.tk * c.d, seed + 1).map((x) => 2 * x), dtype);
  const v = held(randn(c.b * c.h * c.tk * c.d, seed + 2), dtype);
  const dO = held(randn(c.b * c.h * c.tq * c.d, seed + 3), dtype);
  const scale = opts.scale ?? 1 / Math.sqrt(c.d);
  const want = reference(c, allowedBy(c, m), scale, q, k, v, dO);

  const tq = Tensor.from(gpu, q, [c.b, c.h, c.tq, c.d], dtype);
  const tk = Tensor.from(gpu, k, [c.b, c.h, c.tk, c.d], dtype);
  const tv = Tensor.from(gpu, v, [c.b, c.h, c.tk, c.d], dtype);
  const tdo = Tensor.from(gpu, dO, [c.b, c.h, c.tq, c.d], dtype);
  const mask = AttentionMask.create(gpu, c.b, m);
  // bf16 goes through the public entry points, which widen it to f32 copies for the kernels.
  const { o, lse } = dtype === 'bf16' ? attentionForward(tq, tk, tv, mask, opts.scale)
    : attentionForwardTiled(tq, tk, tv, mask, opts.scale, opts.tiles?.forward);
  const g = dtype === 'bf16' ? attentionBackward(tdo, tq, tk, tv, o, lse, mask, opts.scale)
    : attentionBackwardTiled(tdo, tq, tk, tv, o, lse, mask, opts.scale, opts.tiles);
  for (const out of [o, g.dq, g.dk, g.dv]) expect(out.dtype).toBe(dtype);
  const got = {
    o: await o.toArray(), lse: await lse.toArray(), dq: await g.dq.toArray(), dk: await g.dk.toArray(), dv: await g.dv.toArray(),
  };
  expect(o.shape).toEqual([c.b, c.h, c.tq, c.d]);
  expect(lse.shape).toEqual([c.b, c.h, c.tq]);
  // lse: -inf exactly where the row may attend nothing.
  want.lse.forEach((x, i) => { if (x === -Infinity) expect(got.lse[i]).toBe(-Infinity); });
  const finiteLse = (a: ArrayLike<number>) => Array.from(a, (x) => (x === -Infinity ? 0 : x));
  const t = tol[dtype];
  expect(normErr(finiteLse(got.lse), finiteLse(want.lse)), 'lse').toBeLessThan(t);
  expect(normErr(got.o, want.o), 'o').toBeLessThan(t);
  expect(normErr(got.dq, want.dq), 'dq').toBeLessThan(2 * t);
  expect(normErr(got.dk, want.dk), 'dk').toBeLessThan(2 * t);
  expect(normErr(got.dv, want.dv), 'dv').toBeLessThan(2 * t);
  [tq, tk, tv, tdo, o, lse, g.dq, g.dk, g.dv].forEach((x) => x.dispose());
  mask.dispose();
  return { want, got };
}

const lengths = (...xs: number[]) => Uint32Array.from(xs);

// ---- every mask kind, on shapes that are not multiples of the tiles --------------------------

// Every kernel variant a test compiles costs seconds on the CPU adapter, so the cases share two
// head dims with the default tiles: 24 (6 vec4s, fewer than the 8 threads across a row, so some
// idle in P V) and 64 (GPT-2's, with other default tiles). f16 differs from f32 only in loads
// and stores, and bf16 runs the f32 kernels on widened copies, so they run on a subset.
const both = gpu.caps.f16 ? (['f32', 'f16'] as const) : (['f32'] as const);
const stored = [...both, 'bf16'] as const;
const kinds: [string, Case, AttentionMaskOptions, readonly FloatDtype[]][] = [
  ['causal', { b: 2, h: 3, tq: 33, tk: 33, d: 24 }, { causal: true }, stored],
  ['bidirectional', { b: 2, h: 3, tq: 17, tk: 17, d: 64 }, { causal: false }, ['f32']],
  ['prefix LM', { b: 2, h: 3, tq: 33, tk: 33, d: 24 }, { causal: true, prefixLen: lengths(5, 20) }, ['f32']],
  ['padding (bidirectional)', { b: 2, h: 3, tq: 17, tk: 17, d: 24 }, { causal: false, keyLen: lengths(17, 9) }, ['f32']],
  ['padding (causal)', { b: 2, h: 3, tq: 17, tk: 17, d: 24 }, { causal: true, keyLen: [12, 17] }, ['f32']],
  ['GLM blank infilling (part A bidirectional, part B causal, padded)', { b: 2, h: 3, tq: 33, tk: 33, d: 24 },
    { causal: true, prefixLen: lengths(12, 0), keyLen: lengths(33, 30) }, stored],
  ['encoder-decoder cross-attention (Tq != Tk, key padding)', { b: 2, h: 3, tq: 17, tk: 29, d: 64 },
    { causal: false, keyLen: lengths(29, 11) }, ['f32']],
  ['causal with Tq < Tk (queries are the last positions, as with a KV cache)', { b: 2, h: 3, tq: 5, tk: 21, d: 24 }, { causal: true }, ['f32']],
  ['packed sequences (segment ids, causal)', { b: 2, h: 3, tq: 33, tk: 33, d: 24 },
    { causal: true, segments: { q: [...Array(10).fill(0), ...Array(15).fill(1), ...Array(8).fill(2), ...Array(33).fill(7)] } }, stored],
];

for (const [name, c, m, types] of kinds) {
  for (const dtype of types) {
    test(`${name}: forward and backward match the f64 reference (${dtype})`, async () => {
      await check(c, m, dtype, c.tq + c.d);
    });
  }
}

test('fully masked rows give o = 0, lse = -inf and zero gradients, never NaN', async () => {
  // Row 0 has no keys at all; with offset -3 the first 3 queries of row 1 come before every key.
  const c = { b: 2, h: 3, tq: 17, tk: 17, d: 24 };
  const rowZero = 3 * 17 * 24;
  for (const dtype of stored) {
    const { got } = await check(c, { causal: true, causalOffset: -3, keyLen: lengths(0, 17) }, dtype, 4);
    for (const name of ['o', 'dq', 'dk', 'dv'] as const) expect(Array.from(got[name].slice(0, rowZero))).toEqual(Array(rowZero).fill(0));
    for (let h = 0; h < 3; h++) for (let i = 0; i < 3; i++) expect(got.lse[(3 + h) * 17 + i]).toBe(-Infinity);
  }
  // No keys at all (Tk = 0).
  const q = Tensor.from(gpu, randn(2 * 3 * 5 * 24, 5), [2, 3, 5, 24]);
  const none = Tensor.empty(gpu, [2, 3, 0, 24]);
  const { o, lse } = attentionForward(q, none, none, AttentionMask.bidirectional());
  expect(Array.from(await o.toArray())).toEqual(Array(2 * 3 * 5 * 24).fill(0));
  expect(Array.from(await lse.toArray())).toEqual(Array(2 * 3 * 5).fill(-Infinity));
  const g = attentionBackward(q, q, none, none, o, lse, AttentionMask.bidirectional());
  expect(Array.from(await g.dq.toArray())).toEqual(Array(2 * 3 * 5 * 24).fill(0));
  expect(g.dk.shape).toEqual([2, 3, 0, 24]);
  [q, none, o, lse, g.dq, g.dk, g.dv].forEach((x) => x.dispose());
});

test('small odd tiles: many query and key tiles, causal tile skipping, head dim 10, explicit scale', async () => {
  // 3 x 2 threads owning 6 rows, 4 keys per streamed tile; a head dim that is not a multiple of 4
  // leaves part of the last vec4 of every row empty.
  const odd = { rg: 3, tm: 2, nx: 2, n: 4 };
  const tiles = { forward: odd, dkdv: odd, dq: odd };
  await check({ b: 2, h: 2, tq: 23, tk: 23, d: 10 }, { causal: true, prefixLen: lengths(6, 0), keyLen: lengths(23, 19) }, 'f32', 9,
    { scale: 0.3, tiles });
  await check({ b: 2, h: 1, tq: 9, tk: 30, d: 10 }, { causal: false, keyLen: lengths(25, 3) }, 'f32', 10, { tiles });
  await check({ b: 1, h: 2, tq: 19, tk: 19, d: 10 }, { causal: true, segments: { q: [...Array(7).fill(0), ...Array(12).fill(1)] } }, 'f32', 11, { tiles });
});

test('the f64 reference backward agrees with finite differences', () => {
  const c = { b: 1, h: 2, tq: 5, tk: 6, d: 3 };
  const allowed = allowedBy(c, { causal: true, prefixLen: [2] });
  const q = randn(2 * 5 * 3, 1), k = randn(2 * 6 * 3, 2), v = randn(2 * 6 * 3, 3), r = randn(2 * 5 * 3, 4);
  const g = reference(c, allowed, 0.7, q, k, v, r);
  expect(finiteDifferenceError((x) => dot(reference(c, allowed, 0.7, x, k, v, r).o, r), q, g.dq)).toBeLessThan(1e-6);
  expect(finiteDifferenceError((x) => dot(reference(c, allowed, 0.7, q, x, v, r).o, r), k, g.dk)).toBeLessThan(1e-6);
  expect(finiteDifferenceError((x) => dot(reference(c, allowed, 0.7, q, k, x, r).o, r), v, g.dv)).toBeLessThan(1e-6);
});

test('strided views (permuted [B, T, H, D] projections, with offsets) give the contiguous result', async () => {
  const [B, T, H, D] = [2, 11, 3, 24];
  const bases = [0, 1, 2].map((s) => Tensor.from(gpu, randn(B * (T + 1) * H * D, 21 + s), [B, T + 1, H, D]));
  // [B, T+1, H, D] -> [B, H, T, D]: strides (.., D, H*D, 1), and an offset for the slice starting at 1.
  const views = bases.map((x, i) => x.permute([0, 2, 1, 3]).slice(2, i === 0 ? 0 : 1, i === 0 ? T : T + 1));
  expect(views.some((x) => x.isContiguous || x.offset)).toBe(true);
  const dense = await Promise.all(views.map(async (x) => Tensor.from(gpu, await x.toArray(), x.shape)));
  const mask = AttentionMask.causal();
  const a = attentionForward(views[0], views[1], views[2], mask);
  const b = attentionForward(dense[0], dense[1], dense[2], mask);
  expect(Array.from(await a.o.toArray())).toEqual(Array.from(await b.o.toArray()));
  const dObase = Tensor.from(gpu, randn(B * T * H * D, 22), [B, T, H, D]);
  const dO = dObase.permute([0, 2, 1, 3]);
  const dOdense = Tensor.from(gpu, await dO.toArray(), dO.shape);
  const ga = attentionBackward(dO, views[0], views[1], views[2], a.o, a.lse, mask);
  const gb = attentionBackward(dOdense, dense[0], dense[1], dense[2], b.o, b.lse, mask);
  for (const n of ['dq', 'dk', 'dv'] as const) expect(Array.from(await ga[n].toArray())).toEqual(Array.from(await gb[n].toArray()));
  [...bases, ...views, ...dense, a.o, a.lse, b.o, b.lse, dObase, dO, dOdense, ga.dq, ga.dk, ga.dv, gb.dq, gb.dk, gb.dv].forEach((x) => x.dispose());
});

/** The [B, H, T, D] views of the parts of a [B, T, parts, H, D] tensor (as the GPT's fused projection and its gradient). */
const headViews = (x: Tensor) => [...Array(x.shape[2]).keys()].map((i) => x.select(2, i).permute([0, 2, 1, 3]));

test('outputs written into strided views (merged heads, one fused dq/dk/dv buffer) equal the contiguous results exactly', async () => {
  // T and D are not multiples of the tiles; the odd tiles also take the element-wise (not vec4) loads.
  const [B, T, H] = [2, 37, 3];
  const odd = { rg: 3, tm: 2, nx: 2, n: 4 };
  const runs: [FloatDtype, number, AttentionTiles | undefined][] = [...both.map((t): [FloatDtype, number, undefined] => [t, 24, undefined]), ['f32', 10, odd]];
  for (const [dtype, D, tiles] of runs) {
    const bwdTiles = tiles && { dkdv: tiles, dq: tiles };
    const qkv = Tensor.from(gpu, randn(B * T * 3 * H * D, 31), [B, T, 3, H, D], dtype);
    const [q, k, v] = headViews(qkv);
    const dOmerged = Tensor.from(gpu, randn(B * T * H * D, 32), [B, T, 1, H, D], dtype);
    const [dO] = headViews(dOmerged);
    const mask = AttentionMask.causal();
    const dense = attentionForwardTiled(q, k, v, mask, undefined, tiles);
    const denseGrads = attentionBackwardTiled(dO, q, k, v, dense.o, dense.lse, mask, undefined, bwdTiles);

    // o into heads 1..H of a [B, T, H+1, D] buffer, so the view has an offset; head 0 must stay untouched.
    const sentinel = 7;
    const oBuffer = Tensor.from(gpu, new Float32Array(B * T * (H + 1) * D).fill(sentinel), [B, T, H + 1, D], dtype);
    const out = oBuffer.slice(2, 1, H + 1).permute([0, 2, 1, 3]);
    const strided = attentionForwardTiled(q, k, v, mask, undefined, tiles, { out });
    expect(strided.o.buffer).toBe(oBuffer.buffer);
    expect(Array.from(await strided.o.toArray())).toEqual(Array.from(await dense.o.toArray()));
    expect(Array.from(await strided.lse.toArray())).toEqual(Array.from(await dense.lse.toArray()));
    const head0 = await oBuffer.slice(2, 0, 1).toArray();
    expect(head0.every((x) => x === sentinel)).toBe(true);

    // dq, dk, dv interleaved in one [B, T, 3, H, D] buffer, the layout of the qkv projection's gradient;
    // the backward reads o through the same merged-heads view.
    const dqkv = Tensor.empty(gpu, [B, T, 3, H, D], dtype);
    const [dq, dk, dv] = headViews(dqkv);
    const g = attentionBackwardTiled(dO, q, k, v, strided.o, strided.lse, mask, undefined, bwdTiles, { grads: { dq, dk, dv } });
    for (const n of ['dq', 'dk', 'dv'] as const) {
      expect(g[n].buffer).toBe(dqkv.buffer);
      expect(Array.from(await g[n].toArray()), n).toEqual(Array.from(await denseGrads[n].toArray()));
    }
    [qkv, q, k, v, dOmerged, dO, dense.o, dense.lse, denseGrads.dq, denseGrads.dk, denseGrads.dv, oBuffer, out, strided.o, strided.lse,
      dqkv, dq, dk, dv, g.dq, g.dk, g.dv].forEach((x) => x.dispose());
  }
  // The default entry points take the options after the scale.
  const small = Tensor.from(gpu, randn(2 * 5 * 3 * 24, 33), [2, 5, 3, 1, 24]);
  const [q, k, v] = headViews(small);
  const merged = Tensor.empty(gpu, [2, 5, 1, 24]);
  const out = merged.permute([0, 2, 1, 3]);
  const a = attentionForward(q, k, v, AttentionMask.causal(), 0.5, { out });
  const b = attentionForward(q, k, v, AttentionMask.causal(), 0.5);
  expect(Array.from(await out.toArray())).toEqual(Array.from(await b.o.toArray()));
  const smallGrads = Tensor.empty(gpu, [2, 5, 3, 1, 24]);
  const grads = headViews(smallGrads);
  const ga = attentionBackward(b.o, q, k, v, b.o, b.lse, AttentionMask.causal(), 0.5, { grads: { dq: grads[0], dk: grads[1], dv: grads[2] } });
  const gb = attentionBackward(b.o, q, k, v, b.o, b.lse, AttentionMask.causal(), 0.5);
  expect(gb.dk.buffer).toBe(gb.dv.buffer); // the default dk and dv share one buffer too
  for (const n of ['dq', 'dk', 'dv'] as const) expect(Array.from(await ga[n].toArray())).toEqual(Array.from(await gb[n].toArray()));
  [small, q, k, v, merged, out, a.o, a.lse, b.o, b.lse, smallGrads, ...grads, ga.dq, ga.dk, ga.dv, gb.dq, gb.dk, gb.dv].forEach((x) => x.dispose());
});

test('bad output views are refused with clear errors', () => {
  const q = Tensor.zeros(gpu, [2, 3, 5, 24]);
  const causal = AttentionMask.causal();
  const out = (shape: number[], dtype: 'f32' | 'u32' = 'f32') => Tensor.zeros(gpu, shape, dtype);
  expect(() => attentionForward(q, q, q, causal, undefined, { out: out([2, 3, 6, 24]) })).toThrow(/out must be f32 \[2,3,5,24\], got f32 \[2,3,6,24\]/);
  expect(() => attentionForward(q, q, q, causal, undefined, { out: out([2, 3, 5, 24], 'u32') })).toThrow(/out must be f32/);
  const transposed = out([2, 3, 24, 5]).transpose(2, 3);
  expect(() => attentionForward(q, q, q, causal, undefined, { out: transposed })).toThrow(/out must have a contiguous last/);
  const qkv = Tensor.zeros(gpu, [2, 5, 3, 3, 24]);
  const [vq, vk, vv] = headViews(qkv);
  expect(() => attentionForward(vq, vk, vq, causal, undefined, { out: vv })).toThrow(/out must not share a buffer with the kernel's inputs/);
  const { o, lse } = attentionForward(q, q, q, causal);
  const fused = Tensor.zeros(gpu, [2, 5, 3, 3, 24]);
  const [dq, dk, dv] = headViews(fused);
  const other = out([2, 3, 5, 24]);
  const backward = (grads: { dq: Tensor; dk: Tensor; dv: Tensor }) => () => attentionBackward(o, q, q, q, o, lse, causal, undefined, { grads });
  expect(backward({ dq, dk, dv: other })).toThrow(/grads.dk and grads.dv must be views of one buffer/);
  expect(backward({ dq: dq.slice(2, 0, 4), dk, dv })).toThrow(/grads.dq must be f32 \[2,3,5,24\]/);
  expect(backward({ dq, dk: transposed, dv })).toThrow(/grads.dk must have a contiguous last/);
  expect(backward({ dq: o, dk, dv })).toThrow(/grads.dq must not share a buffer/);
  [q, transposed, qkv, vq, vk, vv, o, lse, fused, dq, dk, dv, other].forEach((x) => x.dispose());
});

test('mask ids and lengths may come from GPU tensors; backward is deterministic', async () => {
  const c = { b: 2, h: 1, tq: 13, tk: 13, d: 24 };
  const seg = [...Array(6).fill(3), ...Array(7).fill(4), ...Array(13).fill(1)];
  const host = AttentionMask.create(gpu, 2, { causal: true, keyLen: [13, 10], segments: { q: seg } });
  const segT = Tensor.from(gpu, seg, [2, 13], 'u32');
  const lenT = Tensor.from(gpu, [13, 10], [2], 'u32');
  const dev = AttentionMask.create(gpu, 2, { causal: true, keyLen: lenT, segments: { q: segT } });
  const [q, k, v, dO] = [1, 2, 3, 4].map((s) => Tensor.from(gpu, randn(c.b * c.h * c.tq * c.d, s), [c.b, c.h, c.tq, c.d]));
  const a = attentionForward(q, k, v, host);
  const b = attentionForward(q, k, v, dev);
  expect(Array.from(await b.o.toArray())).toEqual(Array.from(await a.o.toArray()));
  const g1 = attentionBackward(dO, q, k, v, a.o, a.lse, host);
  const g2 = attentionBackward(dO, q, k, v, a.o, a.lse, host);
  for (const n of ['dq', 'dk', 'dv'] as const) expect(Array.from(await g2[n].toArray())).toEqual(Array.from(await g1[n].toArray()));
  [segT, lenT, q, k, v, dO, a.o, a.lse, b.o, b.lse, g1.dq, g1.dk, g1.dv, g2.dq, g2.dk, g2.dv].forEach((x) => x.dispose());
  host.dispose(); dev.dispose();
});

test('shape, dtype and mask errors are clear', () => {
  const q = Tensor.zeros(gpu, [2, 3, 5, 24]);
  const k = Tensor.zeros(gpu, [2, 3, 7, 24]);
  const causal = AttentionMask.causal();
  expect(() => attentionForward(q.reshape([6, 5, 24]), k, k, causal)).toThrow(/q must be \[B, H, Tq, D\]/);
  expect(() => attentionForward(q, Tensor.zeros(gpu, [2, 3, 7, 4]), k, causal)).toThrow(/k must be \[2, 3, Tk, 24\]/);
  expect(() => attentionForward(q, k, Tensor.zeros(gpu, [2, 3, 6, 24]), causal)).toThrow(/v must have k's shape/);
  expect(() => attentionForward(q, k, Tensor.zeros(gpu, [2, 3, 7, 24], 'bf16'), causal)).toThrow(/share a dtype/);
  const [qb, kb] = [q, k].map((t) => Tensor.zeros(gpu, t.shape, 'bf16'));
  expect(() => attentionForward(qb, kb, kb, causal, undefined, { out: Tensor.zeros(gpu, q.shape, 'bf16') })).toThrow(/bf16 .* leave out opts.out/);
  expect(() => attentionForward(Tensor.zeros(gpu, [1, 1, 2, 129]), Tensor.zeros(gpu, [1, 1, 2, 129]), Tensor.zeros(gpu, [1, 1, 2, 129]), causal))
    .toThrow(/head dim must be 1..128/);
  expect(() => attentionForward(q.transpose(2, 3), k.transpose(2, 3), k.transpose(2, 3), causal)).toThrow(/contiguous last/);
  expect(() => attentionForward(q, k, k, causal, NaN)).toThrow(ShapeError);
  expect(() => AttentionMask.create(gpu, 2, { causal: true, keyLen: [3] })).toThrow(/keyLen must hold 2 values/);
  expect(() => AttentionMask.create(gpu, 2, { causal: false, prefixLen: [1, 2] })).toThrow(/prefixLen only changes a causal mask/);
  expect(() => AttentionMask.create(gpu, 2, { causal: true, keyLen: [1, -2] })).toThrow(/not a non-negative integer/);
  expect(() => AttentionMask.create(gpu, 2, { causal: true, segments: { q: [0, 0, 1] } })).toThrow(/segment ids/);
  const padded = AttentionMask.create(gpu, 3, { causal: false, keyLen: [1, 2, 3] });
  expect(() => attentionForward(q, k, k, padded)).toThrow(/built for batch 3/);
  const seg = AttentionMask.create(gpu, 2, { causal: true, segments: { q: Array(10).fill(0) } });
  expect(() => attentionForward(q, k, k, seg)).toThrow(/segment ids are for Tq=5, Tk=5/);
  const { o, lse } = attentionForward(q, k, k, causal);
  expect(() => attentionBackward(o, q, k, k, o, lse.reshape([6, 5]), causal)).toThrow(/lse/);
  expect(() => attentionBackward(k, q, k, k, o, lse, causal)).toThrow(/dO \(the gradient of o\) must be f32 \[2,3,5,24\]/);
  expect(() => attentionForwardTiled(q, k, k, causal, undefined, { rg: 2, tm: 2, nx: 3, n: 4 })).toThrow(/do not fit/);
  [q, k, o, lse].forEach((x) => x.dispose());
  padded.dispose(); seg.dispose();
});
