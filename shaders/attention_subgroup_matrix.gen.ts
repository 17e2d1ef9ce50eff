// Generates the `main` of each pass of shaders/attention_subgroup_matrix.wgsl for one tile shape.
//
// As in the tensor-core GEMM (gemm_subgroup_matrix.gen.ts), subgroup matrices must be separate,
// unrolled variables to run fast through Dawn on NVIDIA, so every fragment product over the head
// dimension and the streamed tile is written out.
import template from './attention_subgroup_matrix.wgsl';

export type AttentionPass = 'forward' | 'dkdv' | 'dq';

/** One tile shape of the tensor-core attention kernels. */
export interface AttentionMatrixTile {
  /** Subgroups per workgroup; each owns frag.m rows (queries, or keys for dK/dV). */
  nsg: number;
  /** Subgroup size the kernel is written for (the adapter's, which must be fixed). */
  sub: number;
  /** Shape of one hardware matrix multiply (an adapter f16 -> f32 subgroup-matrix config). */
  frag: { m: number; n: number; k: number };
  /** Rows of the other side streamed through workgroup memory per step. */
  stream: number;
  /** Head dimension. */
  d: number;
  /** The lanes of a row take interleaved columns instead of adjacent ones (see column() in the template). */
  interleave?: boolean;
}

export function attentionTileName(pass: AttentionPass, t: AttentionMatrixTile): string {
  return `attention_${pass}_sm_d${t.d}_sg${t.nsg}x${t.sub}_s${t.stream}_f${t.frag.m}x${t.frag.n}x${t.frag.k}${t.interleave ? '_il' : ''}`;
}

/** Workgroup memory the pass needs, in bytes (mirrors the template's var<workgroup> declarations). */
export function attentionWorkgroupBytes(pass: AttentionPass, t: AttentionMatrixTile): number {
  const rows = t.nsg * t.frag.m;
  const ss = t.stream + 4, os = t.d + 4, ps = t.stream + 8;
  const tiles = 2 * t.stream * (t.d + 8) * 2;
  const scratch = t.nsg * t.frag.m * Math.max(pass === 'forward' ? ss : 2 * ss, os) * 4;
  const p = pass === 'dq' ? 0 : rows * ps * 2;
  const ds = pass === 'forward' ? 0 : rows * ps * 2;
  const stats = pass === 'dkdv' ? t.stream * 8 : 0;
  return tiles + scratch + p + ds + stats;
}

/** Why the tile cannot be generated, or null when it can. */
export function attentionTileProblem(t: AttentionMatrixTile): string | null {
  const { m: fm, n: fn, k: fk } = t.frag;
  const lpr = t.sub / fm;
  if (!Number.isInteger(lpr) || lpr & (lpr - 1)) return `subgroup size ${t.sub} is not a power-of-two multiple of the fragment's ${fm} rows`;
  if (t.d % fk || t.d % fn || t.d % lpr || t.d % 4) return `head dim ${t.d} is not a multiple of the fragment's ${fk} and ${fn} columns`;
  if (t.stream % fk || t.stream % fn || t.stream % lpr) return `streamed tile ${t.stream} is not a multiple of the fragment's ${fk} and ${fn} columns`;
  if (t.nsg * fm > 2 * t.stream) return `${t.nsg * fm} owned rows do not fit the staging tiles of 2 x ${t.stream} rows`;
  if ((t.stream * (t.d / 4)) % (t.nsg * t.sub)) return `a ${t.stream}-row tile does not split into vec4 loads over ${t.nsg * t.sub} invocations`;
  return null;
}

/** The Spec constants the template expects for this tile. */
export function attentionTileConsts(t: AttentionMatrixTile): Record<string, number | boolean> {
  return { NSG: t.nsg, SUB: t.sub, FM: t.frag.m, FN: t.frag.n, FK: t.frag.k, STREAM: t.stream, INTERLEAVE: t.interleave === true };
}

/** The generated entry point of one pass. */
export function generateAttentionMain(pass: AttentionPass, t: AttentionMatrixTile): string {
  const problem = attentionTileProblem(t);
  if (problem) throw new Error(`${attentionTileName(pass, t)}: ${problem}`);
  const { m: fm, n: fn, k: fk } = t.frag;
  const left = `subgroup_matrix_left<f16, ${fk}, ${fm}>`; // <type, columns, rows>
  const right = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  const result = `subgroup_matrix_result<f32, ${fn}, ${fm}>`;
  const range = (n: number) => [...Array(n).keys()];
  const dSteps = range(t.d / fk);     // products over the head dimension
  const dCols = range(t.d / fn);      // result fragments across the head dimension
  const sSteps = range(t.stream / fk); // products over the streamed rows
  const sCols = range(t.stream / fn); // result fragments across the streamed rows
  const L: string[] = [];
  let indent = 2;
  const add = (...lines: string[]) => lines.forEach((l) => L.push(' '.repeat(indent) + l));
  const barrier = () => add('workgroupBarrier();');

  /** Stages the workgroup's owned rows of one input and loads this subgroup's fragments of them. */
  const ownFragments = (name: string, input: string, l: string, row0: string, limit: string) => {
    add(`stage(${input}, ${l}, b, h, ${row0}, ${limit}, ROWS, 0u, tid);`);
    barrier();
    for (const kk of dSteps) add(`let ${name}${kk} = subgroupMatrixLoad<${left}>(&tiles_sh, sg * FM * DS + ${kk * fk}u, false, DS);`);
    barrier();
  };
  /** acc_j += own · streamed^T over the head dimension (streamed rows at `at` in tiles_sh). */
  const timesStreamedT = (acc: string, own: string, at: string) => {
    for (const j of sCols) add(`var ${acc}${j} = ${result}();`);
    for (const kk of dSteps) {
      for (const j of sCols) {
        add(`${acc}${j} = subgroupMatrixMultiplyAccumulate(${own}${kk}, ` +
          `subgroupMatrixLoad<${right}>(&tiles_sh, ${at}${j * fn * (t.d + 8) + kk * fk}u, true, DS), ${acc}${j});`);
      }
    }
  };
  /** acc_n += rows of `lhs` (FM x STREAM in workgroup memory) · streamed rows at `at` (STREAM x D). */
  const lhsTimesStreamed = (pairs: [acc: string, lhs: string, at: string][]) => {
    for (const kk of sSteps) {
      for (const [acc, lhs] of pairs) {
        add(`let ${acc}_l${kk} = subgroupMatrixLoad<${left}>(&${lhs}, sg * FM * PS + ${kk * fk}u, false, PS);`);
      }
      for (const n of dCols) {
        for (const [acc, , at] of pairs) {
          add(`${acc}${n} = subgroupMatrixMultiplyAccumulate(${acc}_l${kk}, ` +
            `subgroupMatrixLoad<${right}>(&tiles_sh, ${at}${kk * fk * (t.d + 8) + n * fn}u, false, DS), ${acc}${n});`);
        }
      }
    }
  };
  const store = (acc: string, cols: number[], width: number, at: string, stride: string) => {
    for (const j of cols) add(`subgroupMatrixStore(&scratch, sg * SCRATCH + ${at}${j * width}u, ${acc}${j}, false, ${stride});`);
  };

  L.push(`// Generated: ${attentionTileName(pass, t)}.`,
    // Fragment offsets depend on the subgroup index, which is uniform within each subgroup
    // (subgroups are consecutive invocations), not across the workgroup as WGSL's analysis requires.
    '@diagnostic(off, chromium.subgroup_matrix_uniformity)',
    '@compute @workgroup_size(THREADS)',
    'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,',
    '        @builtin(local_invocation_index) tid: u32) {');
  add('let h = wg.y;', 'let b = wg.z;', 'let sg = tid / SUB;', 'let lane = tid % SUB;',
    'let prefix = prefix_len(b);', 'let klen = key_len(b);');

  if (pass === 'forward' || pass === 'dq') {
    // Latest query tile first: under a causal mask those have the most keys.
    add('let i0 = (nwg.x - 1u - wg.x) * ROWS;',
      'let end = key_end(min(i0 + ROWS, p.tq) - 1u, prefix, klen);',
      'let own = min(i0 + sg * FM + lane / LPR, p.tq - 1u);',
      'let sq = seg_q(b, own);');
    if (pass === 'forward') add('m_run = NEG;');
    else add('let st = stats[(b * p.heads + h) * p.tq + own];');
    ownFragments('q', 'Q_IN', 'p.q_l', 'i0', 'p.tq');
    if (pass === 'dq') ownFragments('g', 'DO_IN', 'p.do_l', 'i0', 'p.tq');
    if (pass === 'dq') for (const n of dCols) add(`var dq${n} = ${result}();`);
    add('fetch(K_IN, p.k_l, V_IN, p.v_l, b, h, 0u, p.tk, tid);',
      'for (var j0 = 0u; j0 < end; j0 += STREAM) {');
    indent = 4;
    barrier();
    add('stash(tid);');
    barrier();
    add('if (j0 + STREAM < end) { fetch(K_IN, p.k_l, V_IN, p.v_l, b, h, j0 + STREAM, p.tk, tid); }',
      '// S = Q K^T');
    timesStreamedT('s', 'q', '');
    if (pass === 'forward') {
      store('s', sCols, fn, '', 'SS');
      barrier();
      add('forward_scores(sg, lane, i0, j0, b, prefix, klen, sq, all_visible(false, i0, j0, ROWS, STREAM));');
      barrier();
      add('// O_tile = P V');
      for (const n of dCols) add(`var o${n} = ${result}();`);
      lhsTimesStreamed([['o', 'p_sh', 'STREAM * DS + ']]);
      store('o', dCols, fn, '', 'OS');
      barrier();
      add('forward_accumulate(sg, lane);');
      indent = 2;
      add('}', 'forward_finish(sg, lane, i0, b, h);');
    } else {
      add('// dP = dO V^T');
      timesStreamedT('dp', 'g', 'STREAM * DS + ');
      store('s', sCols, fn, '', '2u * SS');
      store('dp', sCols, fn, 'SS + ', '2u * SS');
      barrier();
      add('dq_scores(sg, lane, i0, j0, b, prefix, klen, sq, st, all_visible(false, i0, j0, ROWS, STREAM));');
      barrier();
      add('// dQ += dS K');
      lhsTimesStreamed([['dq', 'ds_sh', '']]);
      indent = 2;
      add('}');
      barrier();
      store('dq', dCols, fn, '', 'OS');
      barrier();
      add('dq_write(sg, lane, i0, b, h);');
    }
  } else {
    add('let j0 = wg.x * ROWS;',
      '// Keys at or past key_len get no gradient: no query tile is visited when all of the tile\'s are.',
      'var begin = query_begin(j0, prefix);',
      'if (j0 >= klen) { begin = p.tq; }',
      'let sk = seg_k(b, min(j0 + sg * FM + lane / LPR, p.tk - 1u));',
      'let bh = b * p.heads + h;');
    ownFragments('k', 'K_IN', 'p.k_l', 'j0', 'p.tk');
    ownFragments('v', 'V_IN', 'p.v_l', 'j0', 'p.tk');
    for (const n of dCols) add(`var dk${n} = ${result}();`, `var dv${n} = ${result}();`);
    add('fetch(Q_IN, p.q_l, DO_IN, p.do_l, b, h, begin, p.tq, tid);',
      'for (var i0 = begin; i0 < p.tq; i0 += STREAM) {');
    indent = 4;
    barrier();
    add('stash(tid);',
      'for (var e = tid; e < STREAM; e += THREADS) {',
      '  var x = vec2<f32>();',
      '  if (i0 + e < p.tq) { x = stats[bh * p.tq + i0 + e]; }',
      '  stat_sh[e] = x;',
      '}');
    barrier();
    add('if (i0 + STREAM < p.tq) { fetch(Q_IN, p.q_l, DO_IN, p.do_l, b, h, i0 + STREAM, p.tq, tid); }',
      '// S^T = K Q^T, dP^T = V dO^T');
    timesStreamedT('s', 'k', '');
    timesStreamedT('dp', 'v', 'STREAM * DS + ');
    store('s', sCols, fn, '', '2u * SS');
    store('dp', sCols, fn, 'SS + ', '2u * SS');
    barrier();
    add('dkdv_scores(sg, lane, i0, j0, b, prefix, klen, sk, all_visible(true, j0, i0, ROWS, STREAM));');
    barrier();
    add('dkdv_store_ds(sg, lane, i0, j0, b, h);');
    add('// dV += P^T dO, dK += dS^T Q');
    lhsTimesStreamed([['dv', 'p_sh', 'STREAM * DS + '], ['dk', 'ds_sh', '']]);
    indent = 2;
    add('}');
    barrier();
    store('dk', dCols, fn, '', 'OS');
    barrier();
    add('dkdv_write(true, sg, lane, j0, b, h, p.scale);');
    barrier();
    store('dv', dCols, fn, '', 'OS');
    barrier();
    add('dkdv_write(false, sg, lane, j0, b, h, 1.0);');
  }
  L.push('}');
  return L.join('\n') + '\n';
}

/** The pass's kernel source after attention_common.wgsl: template + generated main. */
export function attentionMatrixSource(pass: AttentionPass, t: AttentionMatrixTile): string {
  return template + '\n' + generateAttentionMain(pass, t);
}
