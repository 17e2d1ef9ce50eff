// Generates the `main` of shaders/gemm_subgroup_matrix.wgsl for one tile shape.
//
// Subgroup matrices held in arrays and indexed in loops run several times slower through
// Dawn on NVIDIA than the same matrices as separate variables (../shared/PLATFORM.md), so
// every fragment and accumulator is its own variable and the K step is unrolled.
import template from './gemm_subgroup_matrix.wgsl';

/** One tile shape of the tensor-core GEMM. */
export interface SubgroupMatrixTile {
  /** Workgroup tile. */
  bm: number;
  bn: number;
  bk: number;
  /** Subgroups along M and N; each computes (bm/sgM) x (bn/sgN). */
  sgM: number;
  sgN: number;
  /** Subgroup size the kernel is written for (the adapter's, which must be fixed). */
  sub: number;
  /** Shape of one hardware matrix multiply (an adapter subgroup-matrix config). */
  frag: { m: number; n: number; k: number };
  /** Halves of padding per workgroup-memory row, against bank conflicts. */
  pad: number;
  /** 2: double-buffered workgroup memory (one barrier per K step); 1: single buffer. */
  stages: 1 | 2;
}

export function tileName(t: SubgroupMatrixTile): string {
  return `${t.bm}x${t.bn}x${t.bk}_sg${t.sgM}x${t.sgN}_f${t.frag.m}x${t.frag.n}x${t.frag.k}_p${t.pad}_s${t.stages}`;
}

/** Workgroup memory the tile needs, in bytes (the larger of either operand layout). */
export function tileWorkgroupBytes(t: SubgroupMatrixTile): number {
  const a = Math.max(t.bm * (t.bk + t.pad), t.bk * (t.bm + t.pad));
  const b = Math.max(t.bn * (t.bk + t.pad), t.bk * (t.bn + t.pad));
  return t.stages * (a + b) * 2 + t.sgM * t.sgN * t.frag.m * t.frag.n * 4;
}

/** Why the tile cannot be generated, or null when it can. */
export function tileProblem(t: SubgroupMatrixTile): string | null {
  const threads = t.sgM * t.sgN * t.sub;
  const wm = t.bm / t.sgM, wn = t.bn / t.sgN;
  if (!Number.isInteger(wm) || !Number.isInteger(wn) || wm % t.frag.m || wn % t.frag.n) {
    return `subgroup block ${wm}x${wn} is not a whole number of ${t.frag.m}x${t.frag.n} fragments`;
  }
  if (t.bk % t.frag.k) return `bk ${t.bk} is not a multiple of the fragment's k ${t.frag.k}`;
  if ((t.bm * t.bk) % (8 * threads) || (t.bn * t.bk) % (8 * threads)) {
    return `the ${t.bm}x${t.bk} and ${t.bk}x${t.bn} tiles do not split into 8-half loads over ${threads} invocations`;
  }
  if (t.bm % 8 || t.bn % 8 || t.bk % 8 || t.pad % 8) return 'bm, bn, bk and pad must be multiples of 8';
  if (Math.max(t.bm, t.bn) * t.bk > 32 * 8 * threads) return `more than 32 8-half loads per invocation (bits of inside_a/inside_b)`;
  return null;
}

/** The Spec constants the template expects for this tile. */
export function tileConsts(t: SubgroupMatrixTile): Record<string, number> {
  return {
    BM: t.bm, BN: t.bn, BK: t.bk, SUB: t.sub, SG_M: t.sgM, SG_N: t.sgN,
    FRAG_M: t.frag.m, FRAG_N: t.frag.n, FRAG_K: t.frag.k, PAD: t.pad, STAGES: t.stages,
  };
}

/** The generated entry point (straight-line over fragments and the K step). */
export function generateMain(t: SubgroupMatrixTile): string {
  const problem = tileProblem(t);
  if (problem) throw new Error(`subgroup-matrix tile ${tileName(t)}: ${problem}`);
  const { m: fm, n: fn, k: fk } = t.frag;
  const rowsM = t.bm / t.sgM / fm; // fragments per subgroup along M
  const colsN = t.bn / t.sgN / fn;
  const left = `subgroup_matrix_left<f16, ${fk}, ${fm}>`; // <type, columns, rows>
  const right = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  const result = `subgroup_matrix_result<f32, ${fn}, ${fm}>`;
  const range = (n: number) => [...Array(n).keys()];
  const accs = range(rowsM).flatMap((i) => range(colsN).map((j) => [i, j] as const));
  const L: string[] = [];
  const add = (indent: number, ...lines: string[]) => lines.forEach((l) => L.push(' '.repeat(indent) + l));

  add(0,
    `// Generated for tile ${tileName(t)}: ${rowsM}x${colsN} accumulators per subgroup.`,
    // Fragment offsets depend on the subgroup index, which is uniform within each subgroup
    // (subgroups are consecutive invocations), not across the workgroup as WGSL's analysis requires.
    '@diagnostic(off, chromium.subgroup_matrix_uniformity)',
    '@compute @workgroup_size(THREADS)',
    'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,',
    '        @builtin(local_invocation_index) tid: u32) {');
  add(2,
    'let z = wg.z;',
    'let tile = tile_of(wg.xy, nwg.xy);',
    'let m0 = tile.y * BM;',
    'let n0 = tile.x * BN;',
    'let sg = tid / SUB;',
    'let lane = tid % SUB;',
    `let wm = m0 + (sg / SG_N) * ${t.bm / t.sgM}u;`,
    `let wn = n0 + (sg % SG_N) * ${t.bn / t.sgN}u;`,
    `let fa = (sg / SG_N) * ${t.bm / t.sgM}u;`,
    `let fb = (sg % SG_N) * ${t.bn / t.sgN}u;`,
    'let base_a = p.off_a + z * p.bsa;',
    'let base_b = p.off_b + z * p.bsb;',
    ...accs.map(([i, j]) => `var acc_${i}_${j} = ${result}();`),
    'let steps = (k_end(m0) + BK - 1u) / BK;',
    'fetch_a(tid, base_a, m0, 0u);',
    'fetch_b(tid, base_b, 0u, n0);',
    'stash_a(tid, 0u);',
    'stash_b(tid, 0u);',
    'workgroupBarrier();',
    'for (var s = 0u; s < steps; s++) {');
  add(4,
    t.stages === 2 ? 'let stage = s & 1u;' : 'let stage = 0u;',
    'let more = s + 1u < steps;',
    'if (more) {',
    '  fetch_a(tid, base_a, m0, (s + 1u) * BK);',
    '  fetch_b(tid, base_b, (s + 1u) * BK, n0);',
    '}');
  for (const kk of range(t.bk / fk)) {
    add(4, `// k = ${kk * fk}`);
    for (const i of range(rowsM)) {
      add(4, `let a${kk}_${i} = subgroupMatrixLoad<${left}>(&As, a_frag(stage, fa + ${i * fm}u, ${kk * fk}u), A_COL_MAJOR, SA);`);
    }
    for (const j of range(colsN)) {
      add(4, `let b${kk}_${j} = subgroupMatrixLoad<${right}>(&Bs, b_frag(stage, ${kk * fk}u, fb + ${j * fn}u), B_COL_MAJOR, SB);`);
    }
    for (const [i, j] of accs) add(4, `acc_${i}_${j} = subgroupMatrixMultiplyAccumulate(a${kk}_${i}, b${kk}_${j}, acc_${i}_${j});`);
  }
  if (t.stages === 2) {
    add(4, 'if (more) {', '  stash_a(tid, stage ^ 1u);', '  stash_b(tid, stage ^ 1u);', '}', 'workgroupBarrier();');
  } else {
    add(4, 'workgroupBarrier();', 'if (more) {', '  stash_a(tid, 0u);', '  stash_b(tid, 0u);', '}', 'workgroupBarrier();');
  }
  add(2, '}');
  for (const [i, j] of accs) {
    add(2,
      `subgroupMatrixStore(&Cs, sg * FRAG, acc_${i}_${j}, false, FRAG_N);`,
      'workgroupBarrier();',
      `write_fragment(z, sg, lane, wm + ${i * fm}u, wn + ${j * fn}u);`,
      'workgroupBarrier();');
  }
  add(0, '}');
  return L.join('\n') + '\n';
}

/** The complete kernel source for one tile (template + generated main). */
export function subgroupMatrixSource(t: SubgroupMatrixTile): string {
  return template + '\n' + generateMain(t);
}
