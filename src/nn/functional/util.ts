// Shared checks and buffer plumbing for the nn kernels' host wrappers.
import { ShapeError } from '../../errors.js';
import { contiguous } from '../../tensor/ops.js';
import type { Tensor } from '../../tensor/tensor.js';

/**
 * The tensor itself when its data starts at element 0 of its buffer and is contiguous
 * (what the kernels index), otherwise a packed copy. Call `release()` when done.
 */
function dense(x: Tensor): { t: Tensor; release: () => void } {
  if (x.isContiguous && x.offset === 0) return { t: x, release: () => {} };
  const t = contiguous(x);
  return { t, release: () => t.dispose() };
}

/** Runs `body` on packed versions of `xs`, freeing any copies afterwards. */
export function withDense<R>(xs: Tensor[], body: (...ts: Tensor[]) => R): R {
  const ds = xs.map(dense);
  try {
    return body(...ds.map((d) => d.t));
  } finally {
    ds.forEach((d) => d.release());
  }
}

export function requireFloat(x: Tensor, what: string): void {
  if (x.dtype !== 'f32' && x.dtype !== 'f16') {
    throw new ShapeError(`${what} must be f32, f16 or bf16, got ${x.dtype}`);
  }
}

export function requireShape(x: Tensor, shape: readonly number[], what: string): void {
  if (x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${what} must have shape [${shape}], got [${x.shape}]`);
  }
}

