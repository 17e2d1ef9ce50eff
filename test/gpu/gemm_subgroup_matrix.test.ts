// The tensor-core GEMM cannot run on the CPU adapter (no subgroup matrices): its generator is
// tested for structure, its template's helpers are compiled here, and its numbers are checked
// on real hardware by `bench gemm --verify` (and by the last test below where the adapter has them).
import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import template from '../../shaders/gemm_subgroup_matrix.wgsl';
import {
  type SubgroupMatrixTile, generateMain, subgroupMatrixSource, tileConsts, tileName, tileProblem, tileWorkgroupBytes,
} from '../../shaders/gemm_subgroup_matrix.gen.js';
import { defaultSubgroupMatrixTile, matmul, tensorCoreConfig } from '../../src/tensor/matmul.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fromF16Bits, toF16Bits } from '../../src/tensor/dtype.js';

const gpu = await testGpu();
const tile: SubgroupMatrixTile = { bm: 128, bn: 128, bk: 32, sgM: 2, sgN: 2, sub: 32, frag: { m: 16, n: 16, k: 16 }, pad: 8, stages: 2 };
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

test('generated main is straight-line: one variable per accumulator and fragment, K step unrolled', () => {
  const main = generateMain(tile);
  // 64x64 per subgroup = 4x4 accumulators; bk 32 = two 16-deep steps.
  expect(count(main, /var acc_\d_\d = subgroup_matrix_result<f32, 16, 16>\(\);/g)).toBe(16);
  expect(count(main, /subgroupMatrixMultiplyAccumulate\(/g)).toBe(32);
  expect(count(main, /subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>/g)).toBe(8);
  expect(count(main, /subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>/g)).toBe(8);
  expect(count(main, /subgroupMatrixStore\(/g)).toBe(16);
  expect(main).not.toMatch(/acc\w*\[/); // no arrays of matrices
  expect(count(main, /\bfor \(/g)).toBe(1); // only the K loop
  expect(main).toContain('acc_3_2 = subgroupMatrixMultiplyAccumulate(a1_3, b1_2, acc_3_2);');
  expect(main).toMatch(/^@diagnostic\(off, chromium.subgroup_matrix_uniformity\)$/m);
});

test('non-square fragments and subgroup grids give the right types and counts', () => {
  const t = { ...tile, bm: 64, bn: 128, sgM: 1, sgN: 4, frag: { m: 16, n: 8, k: 16 } };
  const main = generateMain(t);
  // Per subgroup 64x32 = 4 x 4 fragments of 16x8; types are <T, columns, rows>.
  expect(count(main, /var acc_\d_\d = subgroup_matrix_result<f32, 8, 16>/g)).toBe(16);
  expect(main).toContain('subgroup_matrix_left<f16, 16, 16>');
  expect(main).toContain('subgroup_matrix_right<f16, 8, 16>');
});

test('single-buffered tiles put two barriers in the K loop, double-buffered one', () => {
  const loopOf = (s: string) => s.slice(s.indexOf('for (var s'), s.indexOf('subgroupMatrixStore'));
  expect(count(loopOf(generateMain({ ...tile, stages: 2 })), /workgroupBarrier/g)).toBe(1);
  expect(count(loopOf(generateMain({ ...tile, stages: 1 })), /workgroupBarrier/g)).toBe(2);
});

test('impossible tiles are refused with a reason', () => {
  expect(tileProblem(tile)).toBeNull();
  expect(tileProblem({ ...tile, bm: 96, sgM: 4 })).toMatch(/fragments/);
  expect(tileProblem({ ...tile, bk: 24 })).toMatch(/multiple of the fragment's k/);
  expect(tileProblem({ ...tile, bk: 16, bm: 16, bn: 16, sgM: 1, sgN: 1, sub: 64 })).toMatch(/8-half loads/);
  expect(() => generateMain({ ...tile, bk: 24 })).toThrow(/bk 24/);
  // Double-buffered 128x128x32 with f32 scratch fits the 48 KiB many adapters allow, in the
  // larger layout of each operand (128 rows of 32 + 8 padding halves).
  expect(tileWorkgroupBytes(tile)).toBe(2 * (128 * 40 + 128 * 40) * 2 + 4 * 256 * 4);
  expect(tileWorkgroupBytes(tile)).toBeLessThanOrEqual(48 * 1024);
});

test('every name the generated main uses is defined by the template or the Spec', () => {
  const main = generateMain(tile);
  const defined = new Set([
    ...Object.keys(tileConsts(tile)),
    ...[...template.matchAll(/\b(?:fn|const|var<\w+>|var)\s+(\w+)/g)].map((m) => m[1]),
  ]);
  const used = new Set([...main.matchAll(/\b(fetch_\w+|stash_\w+|write_\w+|tile_of|[ab]_frag|[A-Z][A-Z_]+)\b/g)].map((m) => m[1]));
  for (const name of used) expect(defined, name).toContain(name);
  expect(subgroupMatrixSource(tile).startsWith(template)).toBe(true);
});

if (gpu.caps.f16) {
  test('the template (loads, staging, epilogue) compiles on this adapter for every layout', async () => {
    const stub = `
@compute @workgroup_size(THREADS)
fn main(@builtin(local_invocation_index) tid: u32) {
  fetch_a(tid, 0u, 0u, 0u); fetch_b(tid, 0u, 0u, 0u);
  stash_a(tid, 0u); stash_b(tid, 0u);
  workgroupBarrier();
  write_fragment(0u, tid / SUB, tid % SUB, a_frag(0u, 0u, 0u), b_frag(0u, 0u, 0u));
}`;
    const kernel = { name: 'gemm_subgroup_matrix_template', source: template + stub };
    const small = { ...tile, bm: 64, bn: 64 }; // within the CPU adapter's 32 KiB of workgroup memory
    for (const flags of [[], ['TRANS_A'], ['TRANS_B', 'BETA', 'BIAS', 'GELU', 'RESIDUAL'], ['TRANS_A', 'TRANS_B'],
      ['VEC_EPI'], ['VEC_EPI', 'BETA', 'BIAS', 'GELU', 'RESIDUAL']]) {
      gpu.pipeline(kernel, { enable: ['f16'], alias: { TC: 'f16', TBIAS: 'f32' }, const: tileConsts(small), flags });
    }
    await gpu.check();
  });
}

if (tensorCoreConfig(gpu)) {
  test('tensor-core GEMM matches the f64 reference on ragged shapes and transposes', async () => {
    const [m, n, k] = [136, 72, 264];
    const h = (x: Float64Array) => x.map((v) => fromF16Bits(toF16Bits(v)));
    // The default for this small product (undefined), the default for large ones (M and N partial
    // tiles here), its fallback with 2x8 subgroups, and 4x4 subgroups on the large workgroup tile.
    const large = defaultSubgroupMatrixTile(gpu, { m: 1 << 14, n: 1 << 14, batch: 1 })!;
    const tiles: (SubgroupMatrixTile | undefined)[] = [undefined, large, { ...large, bm: 128, bn: 256, sgM: 2, sgN: 8 }, { ...large, sgM: 4, sgN: 4 }];
    const layouts = [[false, false], [true, true], [false, true], [true, false]] as const;
    for (const t of tiles) for (const [transA, transB] of layouts) {
      const av = h(randn(m * k, 1)), bv = h(randn(k * n, 2));
      const a = Tensor.from(gpu, av, transA ? [k, m] : [m, k], 'f16'), b = Tensor.from(gpu, bv, transB ? [n, k] : [k, n], 'f16');
      const c = matmul(a, b, { transA, transB, variant: 'subgroup-matrix', outDtype: 'f32', tile: t });
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let q = 0; q < k; q++) {
        want[i * n + j] += av[transA ? q * m + i : i * k + q] * bv[transB ? j * k + q : q * n + j];
      }
      expect(maxRelErr(await c.toArray(), want, 0.3), JSON.stringify({ tile: t && tileName(t), transA, transB })).toBeLessThan(1e-4);
      [a, b, c].forEach((t) => t.dispose());
    }
  });
}
