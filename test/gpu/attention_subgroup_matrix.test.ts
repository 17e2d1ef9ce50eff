// The tensor-core attention kernels cannot run on the CPU adapter (no subgroup matrices): their
// generator is tested for structure here, the template's helpers (staging, masked softmax,
// dS, output rows) are compiled for every pass, and their numbers are checked on real hardware by
// `bench attention --verify` against the tiled f32 kernels on ragged shapes and every mask kind;
// where the adapter has subgroup matrices, the last tests also check them against f64 here.
import { testGpu, randn } from '../helpers/gpu.js';
import { type Case, allowedBy, normErr, reference } from '../helpers/attention64.js';
import { held } from './nn-gradcheck.js';
import commonWgsl from '../../shaders/attention_common.wgsl';
import template from '../../shaders/attention_subgroup_matrix.wgsl';
import {
  type AttentionMatrixTile, type AttentionPass, attentionMatrixSource, attentionTileConsts, attentionTileProblem,
  attentionWorkgroupBytes, generateAttentionMain,
} from '../../shaders/attention_subgroup_matrix.gen.js';
import {
  AttentionMask, type AttentionMaskOptions, attentionBackward, attentionForward, attentionMatrixCandidates, attentionMatrixTile,
} from '../../src/nn/functional/attention.js';
import { tensorCoreConfig } from '../../src/tensor/matmul.js';
import { Tensor } from '../../src/tensor/tensor.js';

const gpu = await testGpu();
const tile: AttentionMatrixTile = { nsg: 4, sub: 32, frag: { m: 16, n: 16, k: 16 }, stream: 64, d: 64 };
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;
const mma = /subgroupMatrixMultiplyAccumulate\(/g;

test('forward: S = Q K^T and P V written out fragment by fragment inside the one key loop', () => {
  const main = generateAttentionMain('forward', tile);
  // S: 4 head-dim steps x 4 key fragments; P V: 4 key steps x 4 head-dim fragments.
  expect(count(main, mma)).toBe(32);
  expect(count(main, /let q\d = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>/g)).toBe(4);
  expect(count(main, /subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>\(&tiles_sh, \d+u, true, DS\)/g)).toBe(16); // K^T
  // S and the tile's P V (4 fragments each) leave through the scratch rows.
  expect(count(main, /subgroupMatrixStore\(&scratch/g)).toBe(8);
  expect(count(main, /\bfor \(/g)).toBe(1);
  expect(main).not.toMatch(/\w\[\d/); // no arrays of matrices
  expect(main).toContain('s3 = subgroupMatrixMultiplyAccumulate(q3, subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&tiles_sh, 3504u, true, DS), s3);');
  expect(main).toMatch(/^@diagnostic\(off, chromium.subgroup_matrix_uniformity\)$/m);
  // The next tile is fetched before this one's products.
  expect(main.indexOf('fetch(K_IN, p.k_l, V_IN, p.v_l, b, h, j0 + STREAM')).toBeLessThan(main.indexOf('// S = Q K^T'));
});

test('backward passes: the products of FlashAttention-2, with dK/dV kept per key and dQ per query', () => {
  const t = { ...tile, stream: 32 };
  const dkdv = generateAttentionMain('dkdv', t);
  // S^T and dP^T: 2 x (4 head-dim steps x 2 query fragments); dV and dK: 2 x (2 query steps x 4 head-dim fragments).
  expect(count(dkdv, mma)).toBe(32);
  expect(dkdv).toMatch(/dv0 = subgroupMatrixMultiplyAccumulate\(dv_l0, .*STREAM \* DS \+ 0u, false, DS\), dv0\);/);
  expect(dkdv).toMatch(/dk3 = subgroupMatrixMultiplyAccumulate\(dk_l1, .*&tiles_sh, 1200u, false, DS\), dk3\);/);
  expect(dkdv).toContain('dkdv_write(true, sg, lane, j0, b, h, p.scale);');
  const dq = generateAttentionMain('dq', t);
  // S and dP: 2 x 8; dQ: 2 key steps x 4 head-dim fragments.
  expect(count(dq, mma)).toBe(24);
  expect(count(dq, /let g\d = subgroupMatrixLoad/g)).toBe(4); // dO fragments
  expect(count(dkdv, /\bfor \(/g)).toBe(2); // the query loop and, inside it, the copy of the query rows' stats
  expect(count(dq, /\bfor \(/g)).toBe(1);
  for (const main of [dkdv, dq]) expect(main).not.toMatch(/\w\[\d/);
});

test('impossible tiles are refused with a reason, and the defaults fit 48 KiB of workgroup memory', () => {
  expect(attentionTileProblem(tile)).toBeNull();
  expect(attentionTileProblem({ ...tile, d: 40 })).toMatch(/head dim 40/);
  expect(attentionTileProblem({ ...tile, sub: 24 })).toMatch(/subgroup size 24/);
  expect(attentionTileProblem({ ...tile, stream: 24 })).toMatch(/streamed tile 24/);
  expect(attentionTileProblem({ ...tile, nsg: 16 })).toMatch(/256 owned rows/);
  expect(attentionTileProblem({ ...tile, nsg: 8, frag: { m: 8, n: 8, k: 8 }, stream: 32, d: 8 })).toMatch(/vec4 loads over 256/);
  expect(() => generateAttentionMain('dq', { ...tile, d: 40 })).toThrow(/head dim 40/);
  // Forward, d 64: k and v tiles (2 x 64 x 72 halves), scratch (4 x 16 x 68 f32), P (64 x 72 halves).
  expect(attentionWorkgroupBytes('forward', tile)).toBe(2 * 64 * 72 * 2 + 4 * 16 * 68 * 4 + 64 * 72 * 2);
  for (const pass of ['forward', 'dkdv', 'dq'] as AttentionPass[]) {
    expect(attentionWorkgroupBytes(pass, pass === 'forward' ? tile : { ...tile, stream: 32 })).toBeLessThanOrEqual(48 * 1024);
  }
});

test('every helper the generated mains call is defined by the template or the Spec', () => {
  for (const pass of ['forward', 'dkdv', 'dq'] as AttentionPass[]) {
    const main = generateAttentionMain(pass, tile);
    const defined = new Set([
      ...Object.keys(attentionTileConsts(tile)), 'D',
      ...[...(commonWgsl + template).matchAll(/\b(?:fn|const|var<\w+(?:, \w+)?>|var)\s+(\w+)/g)].map((m) => m[1]),
    ]);
    const used = new Set([...main.matchAll(/\b(stage|fetch|stash|all_visible|\w+_scores|\w+_accumulate|\w+_finish|\w+_write|prefix_len|key_len|key_end|query_begin|seg_[qk]|[A-Z][A-Z_]+)\b/g)].map((m) => m[1]));
    for (const name of used) expect(defined, `${pass}: ${name}`).toContain(name);
    expect(attentionMatrixSource(pass, tile).startsWith(template)).toBe(true);
  }
});

test('a tensor-core tile asked for where the kernels cannot run is refused with the reason', () => {
  const q = Tensor.zeros(gpu, [1, 1, 8, 64], gpu.caps.f16 ? 'f16' : 'f32');
  const f32 = Tensor.zeros(gpu, [1, 1, 8, 64], 'f32');
  // f32 inputs never run on tensor cores, whatever the adapter.
  expect(attentionMatrixCandidates(gpu, 'forward', 'f32', 64, [f32])).toEqual([]);
  expect(() => attentionForward(f32, f32, f32, AttentionMask.causal(), undefined, { matrixTile: tile }))
    .toThrow(/tensor-core tile .* cannot run the forward pass/);
  if (attentionMatrixCandidates(gpu, 'forward', q.dtype, 64, [q]).length === 0) {
    expect(() => attentionForward(q, q, q, AttentionMask.causal(), undefined, { matrixTile: tile })).toThrow(/cannot run the forward pass/);
  }
  [q, f32].forEach((t) => t.dispose());
});

test('the tensor-core path is chosen only where the adapter and the inputs allow it', () => {
  const q = Tensor.zeros(gpu, [1, 1, 8, 64], gpu.caps.f16 ? 'f16' : 'f32');
  const expected = tensorCoreConfig(gpu) && gpu.caps.subgroups && q.dtype === 'f16';
  expect(attentionMatrixTile(gpu, 'forward', q.dtype, 64, [q]) !== null).toBe(!!expected);
  expect(attentionMatrixTile(gpu, 'forward', 'f32', 64, [q])).toBeNull();
  // A view whose rows do not start on vec4 boundaries takes the tiled kernels.
  const odd = Tensor.zeros(gpu, [1, 1, 9, 64], q.dtype).slice(3, 1, 2);
  expect(attentionMatrixTile(gpu, 'forward', q.dtype, 64, [odd])).toBeNull();
  [q, odd].forEach((t) => t.dispose());
});

if (gpu.caps.f16 && gpu.caps.subgroups) {
  test('the template (staging, softmax and gradient steps, output rows one at a time or as vec4s) compiles for every pass', async () => {
    const small: AttentionMatrixTile = { nsg: 2, sub: 32, frag: { m: 16, n: 16, k: 16 }, stream: 16, d: 64 };
    const stubs: Record<AttentionPass, string> = {
      forward: `
  stage(Q_IN, p.q_l, 0u, 0u, 0u, p.tq, ROWS, 0u, tid);
  fetch(K_IN, p.k_l, V_IN, p.v_l, 0u, 0u, 0u, p.tk, tid);
  stash(tid);
  forward_scores(tid / SUB, tid % SUB, 0u, 0u, 0u, prefix_len(0u), key_len(0u), 0u, all_visible(false, 0u, 0u, ROWS, STREAM));
  forward_accumulate(tid / SUB, tid % SUB);
  forward_finish(tid / SUB, tid % SUB, 0u, 0u, 0u);`,
      dkdv: `
  fetch(Q_IN, p.q_l, DO_IN, p.do_l, 0u, 0u, 0u, p.tq, tid);
  stash(tid);
  stat_sh[tid % STREAM] = stats[tid];
  dkdv_scores(tid / SUB, tid % SUB, 0u, 0u, 0u, 0u, p.tk, 0u, all_visible(true, 0u, 0u, ROWS, STREAM));
  dkdv_store_ds(tid / SUB, tid % SUB, 0u, 0u, 0u, 0u);
  dkdv_write(true, tid / SUB, tid % SUB, 0u, 0u, 0u, p.scale);
  dkdv_write(false, tid / SUB, tid % SUB, 0u, 0u, 0u, 1.0);`,
      dq: `
  stage(K_IN, p.k_l, 0u, 0u, 0u, p.tk, STREAM, 0u, tid);
  dq_scores(tid / SUB, tid % SUB, 0u, 0u, 0u, 0u, p.tk, 0u, stats[0], false);
  dq_write(tid / SUB, tid % SUB, 0u, 0u, 0u);`,
    };
    for (const pass of ['forward', 'dkdv', 'dq'] as AttentionPass[]) {
      const kernel = { name: `attention_${pass}_sm_template`, source: commonWgsl + template + `
@compute @workgroup_size(THREADS)
fn main(@builtin(local_invocation_index) tid: u32) {${stubs[pass]}
}` };
      for (const out of [[], ['OUT_VEC4'], ...(pass === 'dkdv' ? [['DS_OUT']] : [])]) {
        for (const interleave of [false, true]) {
          gpu.pipeline(kernel, {
            enable: ['f16', 'subgroups'], alias: { T: 'f16' }, const: { D: small.d, ...attentionTileConsts({ ...small, interleave }) },
            flags: ['VEC4', pass.toUpperCase(), ...(pass === 'forward' ? [] : ['GRAD']), ...out],
          });
        }
      }
    }
    await gpu.check();
  });
}

if (attentionMatrixCandidates(gpu, 'forward', 'f16', 64, []).length > 0) {
  // Ragged lengths (not multiples of any tile), and masks that exercise the per-element path.
  const cases: [string, Case, AttentionMaskOptions][] = [
    ['causal', { b: 2, h: 3, tq: 77, tk: 77, d: 64 }, { causal: true }],
    ['GLM (prefix + padding)', { b: 2, h: 2, tq: 95, tk: 95, d: 64 }, { causal: true, prefixLen: [40, 0], keyLen: [95, 70] }],
    ['cross-attention (Tq != Tk, key padding)', { b: 2, h: 2, tq: 37, tk: 150, d: 64 }, { causal: false, keyLen: [150, 9] }],
    // Tq a multiple of 8: dQ as a product of the dS^T the dK/dV pass writes (by default).
    ['causal, Tq = 96', { b: 2, h: 3, tq: 96, tk: 96, d: 64 }, { causal: true }],
    ['cross-attention, Tq = 40, key padding', { b: 2, h: 2, tq: 40, tk: 150, d: 64 }, { causal: false, keyLen: [150, 9] }],
  ];
  // Each case runs with every pass's default tile shape, its lanes on adjacent and on interleaved columns.
  const lanes = (pass: AttentionPass, interleave: boolean) => ({ ...attentionMatrixCandidates(gpu, pass, 'f16', 64, [])[0], interleave });
  const tileSets: [string, AttentionMatrixTile, { dkdv: AttentionMatrixTile; dq: AttentionMatrixTile }][] = [false, true].map((il) =>
    [il ? 'interleaved lanes' : 'adjacent columns', lanes('forward', il), { dkdv: lanes('dkdv', il), dq: lanes('dq', il) }]);
  // dQ as a product applies where Tq is a multiple of 8; elsewhere 'product' would rerun the pass.
  for (const [name, c, m] of cases) for (const [tiles, forwardTile, backwardTiles] of tileSets) for (const dqVia of c.tq % 8 ? ['pass'] as const : ['product', 'pass'] as const) {
    test(`tensor-core attention matches the f64 reference: ${name}, ${tiles}, dQ by ${dqVia}`, async () => {
      const q = held(randn(c.b * c.h * c.tq * c.d, 1), 'f16'), k = held(randn(c.b * c.h * c.tk * c.d, 2), 'f16');
      const v = held(randn(c.b * c.h * c.tk * c.d, 3), 'f16'), dO = held(randn(c.b * c.h * c.tq * c.d, 4), 'f16');
      const want = reference(c, allowedBy(c, m), 1 / Math.sqrt(c.d), q, k, v, dO);
      const [tq, tk, tv, tdo] = [[q, c.tq], [k, c.tk], [v, c.tk], [dO, c.tq]]
        .map(([x, t]) => Tensor.from(gpu, x as Float64Array, [c.b, c.h, t as number, c.d], 'f16'));
      expect(attentionMatrixTile(gpu, 'forward', 'f16', c.d, [tq, tk, tv])).not.toBeNull();
      const mask = AttentionMask.create(gpu, c.b, m);
      const f = attentionForward(tq, tk, tv, mask, undefined, { matrixTile: forwardTile });
      // NaN in the pool buffers that dS^T's size takes (a few: others of that size class are taken
      // first): under a plain causal mask dS^T is not cleared, as the product reads only what the
      // dK/dV pass writes.
      const nan = new Float64Array(c.b * c.h * c.tk * c.tq).fill(NaN);
      [0, 1, 2].map(() => Tensor.from(gpu, nan, [c.b * c.h, c.tk, c.tq], 'f16')).forEach((x) => x.dispose());
      const g = attentionBackward(tdo, tq, tk, tv, f.o, f.lse, mask, undefined, { matrixTiles: backwardTiles, dqVia });
      expect(normErr(await f.o.toArray(), want.o), 'o').toBeLessThan(6e-3);
      expect(normErr(await g.dq.toArray(), want.dq), 'dq').toBeLessThan(1.2e-2);
      expect(normErr(await g.dk.toArray(), want.dk), 'dk').toBeLessThan(1.2e-2);
      expect(normErr(await g.dv.toArray(), want.dv), 'dv').toBeLessThan(1.2e-2);
      [tq, tk, tv, tdo, f.o, f.lse, g.dq, g.dk, g.dv].forEach((x) => x.dispose());
      mask.dispose();
    });
  }
}

if (attentionMatrixCandidates(gpu, 'forward', 'f16', 64, []).length > 0) {
  test('dQ as a product writes through views of a fused [B, T, 3, H, D] gradient, as the dQ pass does', async () => {
    const [B, T, H, D] = [2, 64, 3, 64];
    const qkv = Tensor.from(gpu, held(randn(B * T * 3 * H * D, 7), 'f16'), [B, T, 3, H, D], 'f16');
    const dO = Tensor.from(gpu, held(randn(B * H * T * D, 8), 'f16'), [B, H, T, D], 'f16');
    const heads = (x: Tensor, i: number) => { const s = x.select(2, i); const v = s.permute([0, 2, 1, 3]); s.dispose(); return v; };
    const [q, k, v] = [0, 1, 2].map((i) => heads(qkv, i));
    const mask = AttentionMask.create(gpu, B, { causal: true });
    const f = attentionForward(q, k, v, mask);
    const got: Float32Array[] = [];
    for (const dqVia of ['product', 'pass'] as const) {
      const dqkv = Tensor.zeros(gpu, [B, T, 3, H, D], 'f16');
      const [dq, dk, dv] = [0, 1, 2].map((i) => heads(dqkv, i));
      attentionBackward(dO, q, k, v, f.o, f.lse, mask, undefined, { grads: { dq, dk, dv }, dqVia }).dq.dispose();
      got.push(await dqkv.toArray() as Float32Array);
      [dqkv, dq, dk, dv].forEach((t) => t.dispose());
    }
    expect(normErr(got[0], Float64Array.from(got[1]))).toBeLessThan(2e-3);
    expect(got[0].some((x) => x !== 0)).toBe(true);
    [qkv, dO, q, k, v, f.o, f.lse].forEach((t) => t.dispose());
    mask.dispose();
  });
}
