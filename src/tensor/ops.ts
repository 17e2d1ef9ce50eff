// Forward tensor ops that are not model-specific: copies and casts, elementwise math
// with broadcasting, and reductions along an axis. All are recorded, not run: the
// scheduler submits them with the rest of the step.
import copyWgsl from '../../shaders/copy.wgsl';
import elementwiseWgsl from '../../shaders/elementwise.wgsl';
import reduceWgsl from '../../shaders/reduce.wgsl';
import { type Kernel, type Param, f32 } from '../gpu/device.js';
import type { Spec } from '../gpu/specialise.js';
import { grid1d } from '../gpu/grid.js';
import { ShapeError } from '../errors.js';
import type { DType } from './dtype.js';
import { Tensor, type Shape, numel } from './tensor.js';

const COPY: Kernel = { name: 'copy', source: copyWgsl };
const ELEMENTWISE: Kernel = { name: 'elementwise', source: elementwiseWgsl };
const REDUCE: Kernel = { name: 'reduce', source: reduceWgsl };

/** Storage spec for a float dtype in kernels that read/write it as `alias`. */
export function floatSpec(dtype: DType, name = 'T'): Spec {
  if (dtype === 'f16') return { enable: ['f16'], alias: { [name]: 'f16' } };
  if (dtype === 'f32') return { alias: { [name]: 'f32' } };
  throw new ShapeError(`this kernel takes f32 or f16 tensors, got ${dtype}; cast() it first`);
}

function merge(...specs: Spec[]): Spec {
  const out: Spec = { enable: [], alias: {}, const: {}, flags: [] };
  for (const s of specs) {
    for (const e of s.enable ?? []) if (!out.enable!.includes(e)) out.enable!.push(e);
    Object.assign(out.alias!, s.alias);
    Object.assign(out.const!, s.const);
    out.flags!.push(...(s.flags ?? []));
  }
  return out;
}
export { merge as mergeSpecs };

/** A contiguous copy of `x`, converted to `dtype` (f32, f16 or bf16). */
export function cast(x: Tensor, dtype: DType): Tensor {
  const floats: DType[] = ['f32', 'f16', 'bf16'];
  if (!floats.includes(x.dtype) || !floats.includes(dtype)) {
    if (x.dtype !== dtype) throw new ShapeError(`cannot cast ${x.dtype} to ${dtype}`);
  }
  if (x.rank > 8) throw new ShapeError(`copy supports rank <= 8, got rank ${x.rank}`);
  const out = Tensor.empty(x.gpu, x.shape, dtype);
  copy(x, out, false);
  return out;
}

/** Copies `src` (any layout) into the view `dst` of the same shape, converting to dst's dtype (f32 or f16). */
export function copyInto(src: Tensor, dst: Tensor): void {
  if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
    throw new ShapeError(`copyInto: shapes [${src.shape}] and [${dst.shape}] differ`);
  }
  if (dst.dtype !== 'f32' && dst.dtype !== 'f16') throw new ShapeError(`copyInto writes f32 or f16 views, got ${dst.dtype}`);
  if (!['f32', 'f16', 'bf16'].includes(src.dtype)) throw new ShapeError(`copyInto reads f32, f16 or bf16, got ${src.dtype}`);
  if (src.buffer === dst.buffer) throw new ShapeError('copyInto: source and destination must not share storage');
  if (src.rank > 8) throw new ShapeError(`copy supports rank <= 8, got rank ${src.rank}`);
  copy(src, dst, true);
}

/** One dispatch of shaders/copy.wgsl: src into dst (a contiguous tensor, or with `strided` any view). */
function copy(src: Tensor, dst: Tensor, strided: boolean): void {
  const storage = (d: DType) => (d === 'f16' ? 'f16' : d === 'u32' ? 'u32' : d === 'i32' ? 'i32' : 'f32');
  const vec4 = copyVec4(src, dst);
  const spec: Spec = {
    enable: src.dtype === 'f16' || dst.dtype === 'f16' ? ['f16'] : [],
    alias: { IN: storage(src.dtype), OUT: storage(dst.dtype) },
    flags: [...(src.dtype === 'bf16' ? ['IN_BF16'] : []), ...(dst.dtype === 'bf16' ? ['OUT_BF16'] : []),
      ...(strided ? ['OUT_STRIDED'] : []), ...(vec4 ? ['VEC4'] : [])],
  };
  const pad = (v: readonly number[]) => [...v, ...Array(8 - v.length).fill(1)];
  const params: Param[] = [src.size, src.rank, src.offset, strided ? dst.offset : 0, ...pad(src.shape), ...pad(src.strides),
    ...pad(strided ? dst.strides : [])];
  src.gpu.dispatch(COPY, spec, [src.buffer, dst.buffer], params, grid1d(Math.ceil(src.size / (vec4 ? 4 : 2))));
}

/** Whether a copy may move four elements at a time (flag VEC4 in shaders/copy.wgsl). */
function copyVec4(src: Tensor, dst: Tensor): boolean {
  const last = src.rank - 1;
  const aligned = (t: Tensor) => t.offset % 4 === 0 && t.strides[last] === 1 && t.strides.slice(0, last).every((s) => s % 4 === 0);
  return src.rank > 0 && src.shape[last] % 4 === 0 && src.dtype !== 'bf16' && dst.dtype !== 'bf16' &&
    ['f32', 'f16'].includes(src.dtype) && aligned(src) && aligned(dst);
}

/**
 * bf16 is a storage format: ops whose kernels read and write only f32 or f16 run on bf16 tensors
 * through f32 temporaries (their arithmetic is f32 either way). Widens the bf16 tensors among
 * `xs` (the others pass through), runs `body` on them and frees the temporaries; `narrow` then
 * rounds the results that keep a bf16 input's dtype.
 */
export function viaF32<A extends (Tensor | null | undefined)[], R>(xs: [...A], body: (...xs: A) => R): R {
  const wide = xs.map((x) => (x?.dtype === 'bf16' ? cast(x, 'f32') : x)) as A;
  try {
    return body(...wide);
  } finally {
    wide.forEach((w, i) => { if (w !== xs[i]) w!.dispose(); });
  }
}

/** `t` stored as `dtype` when that is bf16 (t, an f32 result of viaF32, is consumed); else t itself. */
export function narrow(t: Tensor, dtype: DType): Tensor {
  if (dtype !== 'bf16' || t.dtype === 'bf16') return t;
  const out = cast(t, 'bf16');
  t.dispose();
  return out;
}

export const anyBf16 = (...xs: (Tensor | null | undefined)[]): boolean => xs.some((x) => x?.dtype === 'bf16');

/** A contiguous copy with the same dtype. */
export function contiguous(x: Tensor): Tensor {
  return cast(x, x.dtype);
}

export const OPS = {
  add: 0, sub: 1, mul: 2, div: 3, scale: 4, addScalar: 5, relu: 6, exp: 7, log: 8, sqrt: 9, square: 10, neg: 11,
  tanh: 12, maximum: 14,
} as const;
type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'maximum';
type UnaryOp = 'scale' | 'addScalar' | 'relu' | 'exp' | 'log' | 'sqrt' | 'square' | 'neg' | 'tanh';

/** The shape both operands broadcast to (numpy rules). */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function broadcastStrides(x: Tensor, shape: Shape): number[] {
  const r = shape.length;
  return shape.map((d, i) => {
    const j = x.rank - r + i;
    return j < 0 || x.shape[j] === 1 ? 0 : x.strides[j];
  });
}

function pad4(v: readonly number[], fill: number): number[] {
  return [...Array(4 - v.length).fill(fill), ...v];
}

function elementwise(op: number, a: Tensor, b: Tensor | null, s: number): Tensor {
  if (b && a.dtype !== b.dtype) throw new ShapeError(`operands have different dtypes (${a.dtype}, ${b.dtype})`);
  if (a.dtype === 'bf16') return narrow(viaF32([a, b], (af, bf) => elementwise(op, af, bf, s)), 'bf16');
  let shape = b ? broadcastShape(a.shape, b.shape) : [...a.shape];
  const out = Tensor.empty(a.gpu, shape, a.dtype);
  const n = out.size;
  let sa = broadcastStrides(a, shape);
  let sb = b ? broadcastStrides(b, shape) : shape.map(() => 0);
  if (shape.length > 4) {
    // Same-shape contiguous operands are one flat run of elements.
    if (!a.isContiguous || (b && (!b.isContiguous || b.size !== n)) || a.size !== n) {
      out.dispose();
      throw new ShapeError(`elementwise ops support rank <= 4 for broadcast or strided operands, got [${shape}]`);
    }
    shape = [n];
    sa = [1];
    sb = [b ? 1 : 0];
  }
  const flat = (t: Tensor) => t.isContiguous && t.size === n && t.offset % 4 === 0;
  const flat4 = n % 4 === 0 && flat(a) && (!b || flat(b));
  const params: Param[] = flat4
    ? [n / 4, 4, f32(s), a.offset / 4, (b?.offset ?? 0) / 4, 0, 0, 0]
    : [n, 4, f32(s), a.offset, b?.offset ?? 0, 0, 0, 0, ...pad4(shape, 1), ...pad4(sa, 0), ...pad4(sb, 0)];
  const spec = merge(floatSpec(a.dtype), { const: { OP: op }, flags: [...(b ? ['BINARY'] : []), ...(flat4 ? ['FLAT4'] : [])] });
  a.gpu.dispatch(ELEMENTWISE, spec, b ? [a.buffer, b.buffer, out.buffer] : [a.buffer, out.buffer], params, grid1d(flat4 ? n / 4 : n));
  return out;
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return elementwise(OPS[op], a, b, 0);
}

export function unary(op: UnaryOp, a: Tensor, scalar = 0): Tensor {
  return elementwise(OPS[op], a, null, scalar);
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
export const scale = (a: Tensor, s: number) => unary('scale', a, s);

export type ReduceOp = 'sum' | 'mean' | 'max';
const FLOAT_OUT: DType[] = ['f32', 'f16'];

/**
 * Reduces along `axis`; the axis is kept with size 1 when `keepDims`. The result is stored as
 * `outDtype` (default: x's), accumulating in f32 either way.
 */
export function reduce(op: ReduceOp, x: Tensor, axis: number, keepDims = false, outDtype: DType = x.dtype): Tensor {
  if (x.dtype === 'bf16' || outDtype === 'bf16') {
    return narrow(viaF32([x], (xf) => reduce(op, xf, axis, keepDims, outDtype === 'bf16' ? 'f32' : outDtype)), outDtype);
  }
  const ax = (axis + x.rank) % x.rank;
  if (!(ax >= 0 && ax < x.rank)) throw new ShapeError(`axis ${axis} is out of range for rank ${x.rank}`);
  const xc = x.isContiguous && !x.offset ? x : contiguous(x);
  const outer = numel(x.shape.slice(0, ax));
  const len = x.shape[ax];
  const inner = numel(x.shape.slice(ax + 1));
  const shape = keepDims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  if (!FLOAT_OUT.includes(outDtype)) throw new ShapeError(`reduce stores f32, f16 or bf16 results, not ${outDtype}`);
  const out = Tensor.empty(x.gpu, shape, outDtype);
  const code = { sum: 0, mean: 1, max: 2 }[op];
  const spec = (input: DType, output: DType, flags: string[], opCode = code) =>
    merge(floatSpec(input), floatSpec(output, 'OUT_T'), { const: { OP: opCode }, flags });
  if (inner === 1) {
    x.gpu.dispatch(REDUCE, spec(x.dtype, outDtype, ['ROWS']), [xc.buffer, out.buffer], [outer, len, 1, len], grid1d(outer, 1));
  } else if (len > 2 * COLUMN_CHUNK) {
    // Long columns (e.g. bias gradients summed over B*T rows): partial sums per chunk of rows
    // in parallel, then a short serial pass over the chunks.
    const chunks = Math.ceil(len / COLUMN_CHUNK);
    const partials = Tensor.empty(x.gpu, [outer, chunks, inner], 'f32');
    const partialOp = op === 'max' ? 2 : 0;
    const vec4 = inner % 4 === 0;
    x.gpu.dispatch(REDUCE, spec(x.dtype, 'f32', ['COLS', ...(vec4 ? ['VEC4'] : [])], partialOp), [xc.buffer, partials.buffer],
      [outer, len, inner, len], [Math.ceil(inner / (vec4 ? 256 : 64)), chunks, outer]);
    x.gpu.dispatch(REDUCE, spec('f32', outDtype, []), [partials.buffer, out.buffer], [outer, chunks, inner, len], grid1d(outer * inner));
    partials.dispose();
  } else {
    x.gpu.dispatch(REDUCE, spec(x.dtype, outDtype, []), [xc.buffer, out.buffer], [outer, len, inner, len], grid1d(outer * inner));
  }
  if (xc !== x) xc.dispose();
  return out;
}

/** Rows per partial sum in column reductions (CHUNK in shaders/reduce.wgsl). */
const COLUMN_CHUNK = 256;

export const sum = (x: Tensor, axis: number, keepDims = false) => reduce('sum', x, axis, keepDims);
export const mean = (x: Tensor, axis: number, keepDims = false) => reduce('mean', x, axis, keepDims);
export const max = (x: Tensor, axis: number, keepDims = false) => reduce('max', x, axis, keepDims);
