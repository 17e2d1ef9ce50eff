// Tensors: a typed view (shape, strides, offset) on a pooled GPU buffer.
// Views share storage and count references; `dispose()` returns the buffer to the pool
// once no view needs it.
import type { Gpu } from '../gpu/device.js';
import { ShapeError } from '../errors.js';
import { type DType, decode, encode, storageBytes } from './dtype.js';

export type Shape = readonly number[];

class Storage {
  refs = 1;
  constructor(readonly gpu: Gpu, readonly buffer: GPUBuffer, readonly bytes: number) {}
  release(): void {
    if (--this.refs === 0) this.gpu.pool.release(this.buffer);
    if (this.refs < 0) throw new Error('tensor storage released twice');
  }
}

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export function checkShape(shape: Shape, what = 'shape'): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${what} must be a list of non-negative integers, got [${shape}]`);
  }
}

export class Tensor {
  private disposed = false;

  private constructor(
    private storage: Storage,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly strides: readonly number[],
    readonly offset: number,
  ) {}

  get gpu(): Gpu { return this.storage.gpu; }
  get buffer(): GPUBuffer { this.assertAlive(); return this.storage.buffer; }
  get size(): number { return numel(this.shape); }
  get rank(): number { return this.shape.length; }

  get isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.shape.every((d, i) => d === 1 || c[i] === this.strides[i]);
  }

  /** A new, uninitialised contiguous tensor. */
  static empty(gpu: Gpu, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    if (dtype === 'f16' && !gpu.caps.f16) {
      throw new ShapeError("dtype f16 needs the adapter's 'shader-f16' feature, which it lacks; use f32 or bf16");
    }
    const bytes = storageBytes(dtype, numel(shape));
    const storage = new Storage(gpu, gpu.pool.acquire(bytes), bytes);
    return new Tensor(storage, dtype, [...shape], contiguousStrides(shape), 0);
  }

  /** Uploads host values (converted to `dtype`). */
  static from(gpu: Gpu, values: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    if (values.length !== numel(shape)) {
      throw new ShapeError(`${values.length} values do not fill shape [${shape}] (${numel(shape)} elements)`);
    }
    const t = Tensor.empty(gpu, shape, dtype);
    if (values.length) gpu.write(t.buffer, 0, encode(dtype, values));
    return t;
  }

  static zeros(gpu: Gpu, shape: Shape, dtype: DType = 'f32'): Tensor {
    const t = Tensor.empty(gpu, shape, dtype);
    gpu.clear(t.buffer, 0, storageBytes(dtype, t.size));
    return t;
  }

  /** Downloads the values (as f32 for float types), following strides. */
  async toArray(): Promise<Float32Array | Uint32Array | Int32Array> {
    this.assertAlive();
    if (!this.isContiguous || (this.offset && (this.dtype === 'f16' || this.dtype === 'bf16') && this.offset % 2)) {
      const { contiguous } = await import('./ops.js');
      const c = contiguous(this);
      try { return await c.toArray(); } finally { c.dispose(); }
    }
    const elemBytes = this.dtype === 'f16' || this.dtype === 'bf16' ? 2 : 4;
    const start = this.offset * elemBytes;
    const bytes = storageBytes(this.dtype, this.size);
    const data = await this.gpu.read(this.storage.buffer, start, bytes);
    return decode(this.dtype, data, this.size);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item() needs a tensor of one element, shape is [${this.shape}]`);
    return (await this.toArray())[0];
  }

  // ---- views -----------------------------------------------------------------------------

  private view(shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.assertAlive();
    this.storage.refs++;
    return new Tensor(this.storage, this.dtype, [...shape], [...strides], offset);
  }

  /** Same data, new shape (one dimension may be -1); needs a contiguous tensor. */
  reshape(shape: readonly number[]): Tensor {
    const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const full = shape.map((d) => (d === -1 ? this.size / known : d));
    checkShape(full, 'reshape target');
    if (numel(full) !== this.size) throw new ShapeError(`cannot reshape [${this.shape}] (${this.size} elements) to [${shape}]`);
    if (!this.isContiguous) throw new ShapeError(`reshape of a non-contiguous view [${this.shape}]; call contiguous() first`);
    return this.view(full, contiguousStrides(full), this.offset);
  }

  /** Reorders dimensions without copying. */
  permute(order: readonly number[]): Tensor {
    if (order.length !== this.rank || [...order].sort().some((d, i) => d !== i)) {
      throw new ShapeError(`permute order [${order}] is not a permutation of ${this.rank} dimensions`);
    }
    return this.view(order.map((d) => this.shape[d]), order.map((d) => this.strides[d]), this.offset);
  }

  transpose(a = -2, b = -1): Tensor {
    const r = this.rank;
    const order = [...Array(r).keys()];
    const [i, j] = [(a + r) % r, (b + r) % r];
    [order[i], order[j]] = [order[j], order[i]];
    return this.permute(order);
  }

  /** Elements [start, end) along one dimension. */
  slice(dim: number, start: number, end: number): Tensor {
    const d = (dim + this.rank) % this.rank;
    if (!(0 <= start && start <= end && end <= this.shape[d])) {
      throw new ShapeError(`slice [${start}, ${end}) is outside dimension ${d} of size ${this.shape[d]}`);
    }
    const shape = [...this.shape];
    shape[d] = end - start;
    return this.view(shape, this.strides, this.offset + start * this.strides[d]);
  }

  /** The view at `index` along `dim`, without that dimension. */
  select(dim: number, index: number): Tensor {
    const d = (dim + this.rank) % this.rank;
    if (!(Number.isInteger(index) && index >= 0 && index < this.shape[d])) {
      throw new ShapeError(`index ${index} is outside dimension ${d} of size ${this.shape[d]}`);
    }
    const drop = <T>(v: readonly T[]) => v.filter((_, i) => i !== d);
    return this.view(drop(this.shape), drop(this.strides), this.offset + index * this.strides[d]);
  }

  /** Another reference to the same storage (dispose each separately). */
  ref(): Tensor {
    return this.view(this.shape, this.strides, this.offset);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
  }

  get isDisposed(): boolean { return this.disposed; }

  private assertAlive(): void {
    if (this.disposed) throw new ShapeError('use of a disposed tensor');
  }
}
