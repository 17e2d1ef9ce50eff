// SGD with momentum (dampening 0), optional Nesterov, and L2 weight decay (PyTorch semantics).
import { type Gpu, f32 } from '../gpu/device.js';
import { InputError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { grid1d } from '../gpu/grid.js';
import { SGD as SGD_KERNEL } from './kernels.js';
import { type CommonOptions, type ParamSpec, Optimizer, checkRange } from './optimizer.js';

export interface SgdOptions extends CommonOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (wd * p) for parameters with `decay`. */
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly buf: Tensor[];

  constructor(gpu: Gpu, params: readonly ParamSpec[], opts: SgdOptions) {
    super(gpu, params, opts, 'sgd');
    this.lr = checkRange('lr', opts.lr, 0, Infinity);
    this.momentum = checkRange('momentum', opts.momentum ?? 0, 0, 1, true);
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = checkRange('weightDecay', opts.weightDecay ?? 0, 0, Infinity);
    if (this.nesterov && this.momentum === 0) throw new InputError('Nesterov momentum needs momentum > 0');
    this.buf = this.momentum > 0 ? this.params.map((p) => Tensor.zeros(gpu, p.param.shape)) : [];
  }

  protected override update(i: number, grad: Tensor, lr = this.lr): void {
    const p = this.params[i];
    const flags = this.momentum > 0 ? ['MOMENTUM', ...(this.nesterov ? ['NESTEROV'] : [])] : [];
    const params = [...this.offsets(i, grad), f32(lr), f32(this.momentum), f32(p.decay ? this.weightDecay : 0)];
    const buf = this.buf[i]?.buffer ?? this.unusedState.buffer;
    this.gpu.dispatch(SGD_KERNEL, this.kernelSpec(i, grad, { flags }), [this.control.buffer, grad.buffer, p.param.buffer, buf, this.copyBuffer(i)],
      params, grid1d(Math.ceil(p.param.size / 2)));
  }

  protected override paramState(i: number): Record<string, Tensor> {
    return this.buf.length ? { momentum: this.buf[i] } : {};
  }
}
