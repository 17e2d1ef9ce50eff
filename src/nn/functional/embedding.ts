// Embedding lookup (optionally fused with learned positions) and its deterministic backward
// pass (shaders/embedding.wgsl): positions are grouped by id with exact u32 counting, each
// id's positions sorted, and dout rows summed in that fixed order, so gradients are
// bitwise reproducible. Gradients are f32, the precision of master weights. bf16 tables and
// gradients are read through f32 copies (bf16 is a storage format; see viaF32).
import embeddingWgsl from '../../../shaders/embedding.wgsl';
import type { Kernel } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import { ShapeError } from '../../errors.js';
import { anyBf16, floatSpec, mergeSpecs, narrow, viaF32 } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, withDense } from './util.js';

const kernel = (name: string): Kernel => ({ name, source: embeddingWgsl });
const GATHER = kernel('embedding_gather');
const COUNT = kernel('embedding_count');
const SCAN = kernel('embedding_scan');
const FILL = kernel('embedding_fill');
const SUM = kernel('embedding_sum');
const POS_SUM = kernel('embedding_positional_sum');

function checkIds(op: string, ids: Tensor): void {
  if (ids.dtype !== 'u32') throw new ShapeError(`${op} ids must be u32 token ids, got ${ids.dtype}`);
  if (ids.rank < 1) throw new ShapeError(`${op} ids must have rank >= 1, got a scalar`);
}

/**
 * out[..., c] = table[ids[...], c], plus positional[t, c] for the position t of each id
 * along the last axis of ids when `positional` ([maxPositions, C], same dtype) is given.
 * Ids >= V give NaN rows.
 */
export function embedding(table: Tensor, ids: Tensor, positional?: Tensor): Tensor {
  if (anyBf16(table, positional)) return narrow(viaF32([table, positional], (tf, pf) => embedding(tf, ids, pf)), table.dtype);
  const op = 'embedding';
  requireFloat(table, `${op} table`);
  checkIds(op, ids);
  if (table.rank !== 2) throw new ShapeError(`${op} table must be [V, C], got [${table.shape}]`);
  const [vocab, channels] = table.shape;
  const seq = ids.shape[ids.rank - 1];
  if (positional) {
    if (positional.dtype !== table.dtype) throw new ShapeError(`${op} positional is ${positional.dtype} but table is ${table.dtype}`);
    if (positional.rank !== 2 || positional.shape[1] !== channels || positional.shape[0] < seq) {
      throw new ShapeError(`${op} positional must be [maxPositions >= ${seq}, ${channels}], got [${positional.shape}]`);
    }
  }
  const out = Tensor.empty(table.gpu, [...ids.shape, channels], table.dtype);
  const spec = mergeSpecs(floatSpec(table.dtype), { flags: ['GATHER', ...(positional ? ['POSITIONAL'] : [])] });
  withDense(positional ? [ids, table, positional] : [ids, table], (...ds) => {
    table.gpu.dispatch(GATHER, spec, [...ds.map((d) => d.buffer), out.buffer], [ids.size, channels, vocab, seq], grid1d(out.size));
  });
  return out;
}

/** dtable [V, C] (f32) for embedding(table, ids): the sum of dout rows per id; ids >= V are skipped. */
export function embeddingBackward(dout: Tensor, ids: Tensor, vocab: number): Tensor {
  if (dout.dtype === 'bf16') return viaF32([dout], (df) => embeddingBackward(df, ids, vocab));
  const op = 'embeddingBackward';
  requireFloat(dout, `${op} dout`);
  checkIds(op, ids);
  if (dout.rank !== ids.rank + 1 || ids.shape.some((d, i) => d !== dout.shape[i])) {
    throw new ShapeError(`${op} dout must be [${ids.shape}, C] (ids' shape plus channels), got [${dout.shape}]`);
  }
  if (!Number.isInteger(vocab) || vocab < 1) throw new ShapeError(`${op} vocab must be a positive integer, got ${vocab}`);
  const gpu = dout.gpu;
  const channels = dout.shape[dout.rank - 1];
  const n = ids.size;
  const cursor = Tensor.zeros(gpu, [vocab], 'u32');
  const starts = Tensor.empty(gpu, [vocab + 1], 'u32');
  const order = Tensor.empty(gpu, [n], 'u32');
  const uniforms = [n, channels, vocab, 0];
  const spec = (flag: string) => mergeSpecs(floatSpec(dout.dtype), floatSpec('f32', 'OUT'), { flags: [flag] });
  withDense([ids], (idd) => {
    gpu.dispatch(COUNT, spec('COUNT'), [idd.buffer, cursor.buffer], uniforms, grid1d(n));
    gpu.dispatch(SCAN, spec('SCAN'), [cursor.buffer, starts.buffer], uniforms, [1]);
    gpu.dispatch(FILL, spec('FILL'), [idd.buffer, cursor.buffer, order.buffer], uniforms, grid1d(n));
  });
  const dtable = withDense([dout], (dd) => {
    const rows = dd.reshape([n, channels]);
    try { return sumBuckets(rows, starts, order); } finally { rows.dispose(); }
  });
  [cursor, starts, order].forEach((t) => t.dispose());
  return dtable;
}

/**
 * The last stage of embeddingBackward, on its own so tests can feed it positions in any
 * order: dtable[v] = sum of dout[order[j]] for j in [starts[v], starts[v + 1]), summed in
 * ascending position order whatever the order given (it sorts each bucket of a contiguous
 * `order` in place).
 */
export function sumBuckets(dout: Tensor, starts: Tensor, order: Tensor): Tensor {
  if (dout.dtype === 'bf16') return viaF32([dout], (df) => sumBuckets(df, starts, order));
  requireFloat(dout, 'sumBuckets dout');
  if (dout.rank !== 2 || starts.dtype !== 'u32' || order.dtype !== 'u32' || starts.rank !== 1 || starts.size < 1) {
    throw new ShapeError('sumBuckets takes dout [N, C], starts u32 [V + 1] and order u32 [N]');
  }
  const [n, channels] = dout.shape;
  const vocab = starts.size - 1;
  const dtable = Tensor.empty(dout.gpu, [vocab, channels], 'f32');
  const spec = mergeSpecs(floatSpec(dout.dtype), floatSpec('f32', 'OUT'), { flags: ['SUM'] });
  withDense([starts, order, dout], (sd, od, dd) => {
    dout.gpu.dispatch(SUM, spec, [sd.buffer, od.buffer, dd.buffer, dtable.buffer], [n, channels, vocab, 0], grid1d(vocab, 1));
  });
  return dtable;
}

/** dpositional [maxPositions, C] (f32) for embedding(..., positional): dout summed over all but its last two axes. */
export function positionalEmbeddingBackward(dout: Tensor, maxPositions: number): Tensor {
  if (dout.dtype === 'bf16') return viaF32([dout], (df) => positionalEmbeddingBackward(df, maxPositions));
  const op = 'positionalEmbeddingBackward';
  requireFloat(dout, `${op} dout`);
  if (dout.rank < 2) throw new ShapeError(`${op} dout must be [..., T, C], got [${dout.shape}]`);
  const [seq, channels] = dout.shape.slice(-2);
  if (!Number.isInteger(maxPositions) || maxPositions < seq) {
    throw new ShapeError(`${op} maxPositions must be an integer >= the sequence length ${seq}, got ${maxPositions}`);
  }
  const batches = dout.size / Math.max(seq * channels, 1);
  const dpos = Tensor.empty(dout.gpu, [maxPositions, channels], 'f32');
  const spec = mergeSpecs(floatSpec(dout.dtype), floatSpec('f32', 'OUT'), { flags: ['POS_SUM'] });
  withDense([dout], (dd) => {
    dout.gpu.dispatch(POS_SUM, spec, [dd.buffer, dpos.buffer], [batches, channels, maxPositions, seq], grid1d(dpos.size));
  });
  return dpos;
}
