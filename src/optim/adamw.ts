// AdamW with decoupled weight decay and bias correction (PyTorch semantics), one kernel per parameter.
import { type Gpu, f32 } from '../gpu/device.js';
import { Tensor } from '../tensor/tensor.js';
import { ADAMW, vec4Aligned } from './kernels.js';
import { type CommonOptions, type ParamSpec, Optimizer, checkRange } from './optimizer.js';
import { grid1d } from '../gpu/grid.js';

export interface AdamWOptions extends CommonOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (applied as p *= 1 - lr * weightDecay) to parameters with `decay`. */
  weightDecay?: number;
}

export class AdamW extends Optimizer {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Tensor[];
  private readonly v: Tensor[];

  constructor(gpu: Gpu, params: readonly ParamSpec[], opts: AdamWOptions = {}) {
    super(gpu, params, opts, 'adamw');
    this.lr = checkRange('lr', opts.lr ?? 1e-3, 0, Infinity);
    this.beta1 = checkRange('beta1', opts.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkRange('beta2', opts.beta2 ?? 0.999, 0, 1);
    this.eps = checkRange('eps', opts.eps ?? 1e-8, 0, Infinity);
    this.weightDecay = checkRange('weightDecay', opts.weightDecay ?? 0.01, 0, Infinity);
    this.m = this.params.map((p) => Tensor.zeros(gpu, p.param.shape));
    this.v = this.params.map((p) => Tensor.zeros(gpu, p.param.shape));
  }

  protected override update(i: number, grad: Tensor, lr = this.lr): void {
    const p = this.params[i];
    const wd = p.decay ? this.weightDecay : 0;
    const params = [...this.offsets(i, grad), f32(lr), f32(this.beta1), f32(this.beta2), f32(1 - this.beta1), f32(1 - this.beta2), f32(this.eps), f32(wd),
      f32(lnBeta(this.beta1)), f32(lnBeta(this.beta2))];
    // m and v are the optimizer's own tensors at offset 0; the copy is written in pairs at any offset.
    const vec4 = vec4Aligned(p.param, grad, this.m[i], this.v[i]);
    this.gpu.dispatch(ADAMW, this.kernelSpec(i, grad, vec4 ? { flags: ['VEC4'] } : {}),
      [this.control.buffer, grad.buffer, p.param.buffer, this.m[i].buffer, this.v[i].buffer, this.copyBuffer(i)],
      params, grid1d(Math.ceil(p.param.size / (vec4 ? 4 : 2))));
  }

  protected override paramState(i: number): Record<string, Tensor> {
    return { m: this.m[i], v: this.v[i] };
  }
}

/** ln(beta) for the in-kernel bias correction; beta = 0 (no averaging) maps to a large negative finite value. */
function lnBeta(beta: number): number {
  return Math.max(Math.log(beta), -100);
}
