// The optimizer kernels and the spec pieces they share (gradient storage, low-precision copy).
import commonWgsl from '../../shaders/optim_common.wgsl';
import gradstatsWgsl from '../../shaders/optim_gradstats.wgsl';
import finalizeWgsl from '../../shaders/optim_finalize.wgsl';
import sgdWgsl from '../../shaders/optim_sgd.wgsl';
import adamwWgsl from '../../shaders/optim_adamw.wgsl';
import adafactorWgsl from '../../shaders/optim_adafactor.wgsl';
import accumulateWgsl from '../../shaders/optim_accumulate.wgsl';
import type { Kernel } from '../gpu/device.js';
import type { Spec } from '../gpu/specialise.js';
import { ShapeError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

const withCommon = (name: string, source: string): Kernel => ({ name, source: `${commonWgsl}\n${source}` });

export const GRAD_SUMSQ = withCommon('optim_grad_sumsq', gradstatsWgsl);
export const FINALIZE = { name: 'optim_finalize', source: finalizeWgsl } satisfies Kernel;
export const SGD = withCommon('optim_sgd', sgdWgsl);
export const ADAMW = withCommon('optim_adamw', adamwWgsl);
export const ADAFACTOR = withCommon('optim_adafactor', adafactorWgsl);
export const ACCUMULATE = withCommon('optim_accumulate', accumulateWgsl);

/**
 * Workgroups per gradient in the sum-of-squares pass: a function of the size only (determinism).
 * At least 8192 elements (32 per thread) per workgroup, so small gradients take one; at most 1024,
 * which an H100 holds resident at once (132 SMs x 8 workgroups of 256 threads): the biggest fill it.
 */
export function sumsqGroups(n: number): number {
  return Math.max(1, Math.min(Math.ceil(n / 8192), 1024));
}

/**
 * Whether kernels may read and write these contiguous tensors as vectors of 4 elements (flag VEC4):
 * each starts at an element offset that is a multiple of 4 and lies in a buffer of whole 16-byte
 * vectors, so a last partial vector is still inside the buffer (pool buffers always are).
 */
export function vec4Aligned(...tensors: Tensor[]): boolean {
  return tensors.every((t) => t.offset % 4 === 0 && t.buffer.size % 16 === 0);
}

/** Gradient storage: f32 or f16 (alias G), or bf16 pairs (flag G_BF16). */
export function gradSpec(dtype: DType): Spec {
  if (dtype === 'f32') return { alias: { G: 'f32' } };
  if (dtype === 'f16') return { enable: ['f16'], alias: { G: 'f16' } };
  if (dtype === 'bf16') return { flags: ['G_BF16'] };
  throw new ShapeError(`gradients must be f32, f16 or bf16, got ${dtype}`);
}

/** The optional low-precision copy of the updated weights. */
export function lowCopySpec(dtype: DType | undefined): Spec {
  if (dtype === 'f16') return { enable: ['f16'], flags: ['COPY_F16'] };
  if (dtype === 'bf16') return { flags: ['COPY_BF16'] };
  return {};
}
