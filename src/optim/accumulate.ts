// Gradient accumulation across micro-batches into f32 accumulators, as a GPU kernel.
import type { Gpu } from '../gpu/device.js';
import { f32 } from '../gpu/device.js';
import { InputError, ShapeError } from '../errors.js';
import { mergeSpecs } from '../tensor/ops.js';
import { Tensor } from '../tensor/tensor.js';
import { grid1d } from '../gpu/grid.js';
import { ACCUMULATE, gradSpec } from './kernels.js';
import type { Grads } from './optimizer.js';

/**
 * dst += alpha * src (or dst = alpha * src when `assign`), recorded on the GPU. `dst` is a contiguous
 * f32 tensor; `src` a contiguous f32, f16 or bf16 tensor of the same shape.
 */
export function accumulate(dst: Tensor, src: Tensor, alpha = 1, assign = false): void {
  if (dst.dtype !== 'f32' || !dst.isContiguous) throw new ShapeError(`the accumulator must be a contiguous f32 tensor, got ${dst.dtype}`);
  if (!src.isContiguous) throw new ShapeError('the gradient to accumulate is a strided view; make it contiguous() first');
  if (dst.shape.join() !== src.shape.join()) throw new ShapeError(`cannot accumulate [${src.shape}] into [${dst.shape}]`);
  if (!Number.isFinite(alpha)) throw new InputError(`accumulation weight must be finite, got ${alpha}`);
  const spec = mergeSpecs(gradSpec(src.dtype), { flags: assign ? ['ASSIGN'] : [] });
  dst.gpu.dispatch(ACCUMULATE, spec, [dst.buffer, src.buffer], [dst.size, dst.offset, src.offset, f32(alpha)], grid1d(dst.size));
}

/**
 * Averages gradients over `microBatches` micro-batches: each `add()` adds grads / microBatches into
 * f32 accumulators (the first after `reset()` overwrites, so nothing needs clearing). Pass `grads`
 * to the optimizer once `complete`.
 */
export class GradAccumulator {
  /** The f32 accumulators by parameter name. */
  readonly grads: ReadonlyMap<string, Tensor>;
  private added = 0;

  constructor(gpu: Gpu, params: readonly { name: string; param: Tensor }[], readonly microBatches: number) {
    if (!(Number.isInteger(microBatches) && microBatches >= 1)) throw new InputError(`microBatches must be an integer >= 1, got ${microBatches}`);
    this.grads = new Map(params.map(({ name, param }) => [name, Tensor.empty(gpu, param.shape)]));
  }

  get complete(): boolean {
    return this.added === this.microBatches;
  }

  /** Adds one micro-batch's gradients (by name, or in parameter order). */
  add(grads: Grads): void {
    if (this.complete) throw new InputError(`all ${this.microBatches} micro-batches are in; step the optimizer and reset() first`);
    const names = [...this.grads.keys()];
    const list = Array.isArray(grads) ? (grads as readonly Tensor[]) : names.map((n) => (grads as ReadonlyMap<string, Tensor>).get(n));
    if (list.length !== names.length || (!Array.isArray(grads) && (grads as ReadonlyMap<string, Tensor>).size !== names.length)) {
      throw new ShapeError(`expected gradients for exactly these ${names.length} parameters: ${names.join(', ')}`);
    }
    list.forEach((g, i) => {
      if (!g) throw new ShapeError(`no gradient for parameter '${names[i]}'`);
      accumulate(this.grads.get(names[i])!, g, 1 / this.microBatches, this.added === 0);
    });
    this.added++;
  }

  /** Starts the next accumulation (no GPU work: the next add overwrites). */
  reset(): void {
    this.added = 0;
  }

  dispose(): void {
    for (const t of this.grads.values()) t.dispose();
  }
}
