// GELU (tanh approximation) and SwiGLU, forward and backward (shaders/activation.wgsl).
// bf16 tensors are read through f32 copies and results rounded back (viaF32 in src/tensor/ops.ts).
import activationWgsl from '../../../shaders/activation.wgsl';
import type { Kernel } from '../../gpu/device.js';
import { grid1d } from '../../gpu/grid.js';
import { ShapeError } from '../../errors.js';
import { floatSpec, mergeSpecs, narrow, viaF32 } from '../../tensor/ops.js';
import { Tensor } from '../../tensor/tensor.js';
import { requireFloat, requireShape, withDense } from './util.js';

const kernel = (name: string): Kernel => ({ name, source: activationWgsl });
const GELU_FORWARD = kernel('gelu_forward');
const GELU_BACKWARD = kernel('gelu_backward');
const SWIGLU_FORWARD = kernel('swiglu_forward');
const SWIGLU_BACKWARD = kernel('swiglu_backward');

function run(k: Kernel, flag: string, inputs: Tensor[], out: Tensor, threads: number, f = 0): void {
  withDense(inputs, (...ds) => {
    out.gpu.dispatch(k, mergeSpecs(floatSpec(out.dtype), { flags: [flag] }), [...ds.map((d) => d.buffer), out.buffer],
      [threads, f, 0, 0], grid1d(threads));
  });
}

/** GELU forward or backward over n elements, four per thread when n allows (flag VEC4). */
function runGelu(k: Kernel, flag: string, inputs: Tensor[], out: Tensor): void {
  const vec4 = out.size % 4 === 0;
  const threads = vec4 ? out.size / 4 : out.size;
  withDense(inputs, (...ds) => {
    out.gpu.dispatch(k, mergeSpecs(floatSpec(out.dtype), { flags: [flag, ...(vec4 ? ['VEC4'] : [])] }),
      [...ds.map((d) => d.buffer), out.buffer], [threads, 0, 0, 0], grid1d(threads));
  });
}

function checkGrad(op: string, dy: Tensor, x: Tensor, yShape: readonly number[]): void {
  requireFloat(x, `${op} x`);
  requireShape(dy, yShape, `${op} dy (the gradient of the forward output)`);
  if (dy.dtype !== x.dtype) throw new ShapeError(`${op} dy is ${dy.dtype} but x is ${x.dtype}`);
}

/** GELU with the tanh approximation used by GPT-2, elementwise. */
export function gelu(x: Tensor): Tensor {
  if (x.dtype === 'bf16') return narrow(viaF32([x], gelu), 'bf16');
  requireFloat(x, 'gelu input');
  const y = Tensor.empty(x.gpu, x.shape, x.dtype);
  runGelu(GELU_FORWARD, 'GELU_FORWARD', [x], y);
  return y;
}

/** dx = dy * gelu'(x). */
export function geluBackward(dy: Tensor, x: Tensor): Tensor {
  if (x.dtype === 'bf16' && dy.dtype === 'bf16') return narrow(viaF32([dy, x], geluBackward), 'bf16');
  checkGrad('geluBackward', dy, x, x.shape);
  const dx = Tensor.empty(x.gpu, x.shape, x.dtype);
  runGelu(GELU_BACKWARD, 'GELU_BACKWARD', [dy, x], dx);
  return dx;
}

function swigluOutShape(op: string, x: Tensor): number[] {
  requireFloat(x, `${op} x`);
  const last = x.shape[x.rank - 1];
  if (x.rank < 1 || last % 2 !== 0 || last === 0) {
    throw new ShapeError(`${op} needs x of shape [..., 2F] (gate and up halves), got [${x.shape}]`);
  }
  return [...x.shape.slice(0, -1), last / 2];
}

/** x [..., 2F] = [gate | up] -> silu(gate) * up, shape [..., F]. */
export function swiglu(x: Tensor): Tensor {
  if (x.dtype === 'bf16') return narrow(viaF32([x], swiglu), 'bf16');
  const shape = swigluOutShape('swiglu', x);
  const y = Tensor.empty(x.gpu, shape, x.dtype);
  run(SWIGLU_FORWARD, 'SWIGLU_FORWARD', [x], y, y.size, shape[shape.length - 1]);
  return y;
}

/** Gradient of swiglu with respect to x [..., 2F], given dy [..., F]. */
export function swigluBackward(dy: Tensor, x: Tensor): Tensor {
  if (x.dtype === 'bf16' && dy.dtype === 'bf16') return narrow(viaF32([dy, x], swigluBackward), 'bf16');
  const shape = swigluOutShape('swigluBackward', x);
  checkGrad('swigluBackward', dy, x, shape);
  const dx = Tensor.empty(x.gpu, x.shape, x.dtype);
  run(SWIGLU_BACKWARD, 'SWIGLU_BACKWARD', [dy, x], dx, dy.size, shape[shape.length - 1]);
  return dx;
}
