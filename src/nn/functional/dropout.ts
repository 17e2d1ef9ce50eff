// Dropout whose mask is a pure function of (seed, offset, element index) (shaders/dropout.wgsl):
// nothing is stored between forward and backward; the backward pass regenerates the mask.
// Callers give every dropout site and step its own offset (e.g. a running counter), so
// masks never repeat, and a checkpointed (seed, counter) reproduces a run exactly.
// bf16 tensors are read through f32 copies and results rounded back (viaF32 in src/tensor/ops.ts).
import dropoutWgsl from '../../../shaders/dropout.wgsl';
import { f32, type Kernel } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import { InputError, ShapeError } from '../../errors.js';
import { floatSpec, narrow, viaF32 } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, withDense } from './util.js';

const DROPOUT: Kernel = { name: 'dropout', source: dropoutWgsl };

export interface DropoutRng {
  /** The run's seed, an integer in [0, 2^53). */
  seed: number;
  /** Which random stream: distinct per dropout site and step, an integer in [0, 2^53). */
  offset: number;
}

/** Low and high 32-bit words of an integer in [0, 2^53). */
function words(v: number, what: string): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`dropout ${what} must be an integer in [0, 2^53), got ${v}`);
  return [v % 2 ** 32, Math.floor(v / 2 ** 32)];
}

function apply(op: string, x: Tensor, p: number, rng: DropoutRng): Tensor {
  if (x.dtype === 'bf16' && p !== 0) return narrow(viaF32([x], (xf) => apply(op, xf, p, rng)), 'bf16');
  requireFloat(x, `${op} input`);
  if (!(p >= 0 && p < 1)) throw new InputError(`${op} probability must be in [0, 1), got ${p}`);
  const [seedLo, seedHi] = words(rng.seed, 'seed');
  const [offLo, offHi] = words(rng.offset, 'offset');
  if (p === 0) return x.ref();
  if (x.size >= 2 ** 32) throw new ShapeError(`${op} handles fewer than 2^32 elements, got [${x.shape}]`);
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  const out = Tensor.empty(x.gpu, x.shape, x.dtype);
  withDense([x], (xd) => {
    x.gpu.dispatch(DROPOUT, floatSpec(x.dtype), [xd.buffer, out.buffer],
      [x.size, threshold, f32(1 / (1 - p)), 0, seedLo, seedHi, offLo, offHi], grid1d(Math.ceil(x.size / 4)));
  });
  return out;
}

/**
 * Zeroes each element with probability p and scales the rest by 1 / (1 - p). p = 0 is the
 * identity and returns another reference to x (dispose both).
 */
export function dropout(x: Tensor, p: number, rng: DropoutRng): Tensor {
  return apply('dropout', x, p, rng);
}

/** dx for dropout(x, p, rng): dy through the same mask and scale (same p, seed and offset). */
export function dropoutBackward(dy: Tensor, p: number, rng: DropoutRng): Tensor {
  return apply('dropoutBackward', dy, p, rng);
}
