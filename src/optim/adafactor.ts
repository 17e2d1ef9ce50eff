// AdaFactor (Shazeer & Stern 2018) with HF transformers' semantics: factored second moments for
// matrices (row and column averages, O(m + n) state), a full second moment for vectors, decay
// beta2_t = 1 - t^decayRate, relative step sizes, update clipping by RMS, optional momentum.
// A tensor of rank > 2 is treated as a batch of matrices over its last two dimensions.
// Every reduction (row/column means, RMS of update and parameter) is a deterministic GPU kernel.
import { type Gpu, type Param, f32 } from '../gpu/device.js';
import type { Spec } from '../gpu/specialise.js';
import { InputError } from '../errors.js';
import { Tensor, numel } from '../tensor/tensor.js';
import { grid1d } from '../gpu/grid.js';
import { ADAFACTOR } from './kernels.js';
import { type CommonOptions, type ParamSpec, Optimizer, checkRange } from './optimizer.js';

export interface AdaFactorOptions extends CommonOptions {
  /**
   * Fixed learning rate; leave it out for relative steps min(1e-2, 1/sqrt(t)). Either is multiplied by
   * max(eps2, RMS(param)) unless `scaleParameter` is false (as in HF transformers).
   */
  lr?: number;
  /** Added to squared gradients (default 1e-30). */
  eps1?: number;
  /** Lower bound of RMS(param) when scaling the step by it (default 1e-3). */
  eps2?: number;
  /** Updates are divided by max(1, RMS(update) / clipThreshold) (default 1). */
  clipThreshold?: number;
  /** beta2_t = 1 - t^decayRate (default -0.8). */
  decayRate?: number;
  /** Momentum on the update; 0 (the default) keeps no first moment. */
  beta1?: number;
  /** Decoupled weight decay (p -= weightDecay * lr_t * p) for parameters with `decay` (default 0). */
  weightDecay?: number;
  /** Scale the step by max(eps2, RMS(param)) (default true). */
  scaleParameter?: boolean;
}

/** Upper bound of the workgroups in the RMS pass (the scratch layout depends on it). */
const MAX_GROUPS = 256;

interface Layout {
  factored: boolean;
  batches: number;
  rows: number;
  cols: number;
}

export class AdaFactor extends Optimizer {
  readonly lr?: number;
  readonly eps1: number;
  readonly eps2: number;
  readonly clipThreshold: number;
  readonly decayRate: number;
  readonly beta1: number;
  readonly weightDecay: number;
  readonly scaleParameter: boolean;
  private readonly layouts: Layout[];
  private readonly state: Record<string, Tensor>[];
  /** USQ partial sums, then the row means of each batch (reused by every parameter in turn). */
  private readonly scratch: Tensor;

  constructor(gpu: Gpu, params: readonly ParamSpec[], opts: AdaFactorOptions = {}) {
    super(gpu, params, opts, 'adafactor');
    if (opts.lr !== undefined) this.lr = checkRange('lr', opts.lr, 0, Infinity);
    this.eps1 = checkRange('eps1', opts.eps1 ?? 1e-30, 0, Infinity);
    this.eps2 = checkRange('eps2', opts.eps2 ?? 1e-3, 0, Infinity);
    this.clipThreshold = opts.clipThreshold ?? 1;
    if (!(this.clipThreshold > 0 && Number.isFinite(this.clipThreshold))) throw new InputError(`clipThreshold must be > 0, got ${this.clipThreshold}`);
    this.decayRate = checkRange('decayRate', opts.decayRate ?? -0.8, -1, 0);
    this.beta1 = checkRange('beta1', opts.beta1 ?? 0, 0, 1);
    this.weightDecay = checkRange('weightDecay', opts.weightDecay ?? 0, 0, Infinity);
    this.scaleParameter = opts.scaleParameter ?? true;
    if (this.eps1 > 0 && Math.fround(this.eps1) === 0) throw new InputError(`eps1 ${this.eps1} underflows f32; use at least 1e-38`);
    this.layouts = this.params.map(({ param: { shape } }) => {
      const r = shape.length;
      return r >= 2
        ? { factored: true, batches: numel(shape.slice(0, -2)), rows: shape[r - 2], cols: shape[r - 1] }
        : { factored: false, batches: 1, rows: 1, cols: numel(shape) };
    });
    this.state = this.params.map(({ param: { shape } }, i) => {
      const s: Record<string, Tensor> = this.layouts[i].factored
        ? { row: Tensor.zeros(gpu, shape.slice(0, -1)), col: Tensor.zeros(gpu, [...shape.slice(0, -2), shape[shape.length - 1]]) }
        : { v: Tensor.zeros(gpu, shape) };
      if (this.beta1 > 0) s.ema = Tensor.zeros(gpu, shape);
      return s;
    });
    const maxBatches = Math.max(...this.layouts.map((l) => l.batches));
    this.scratch = Tensor.zeros(gpu, [2 * MAX_GROUPS + maxBatches]);
  }

  /** Factored state shapes, e.g. for [m, n]: row [m] and col [n]. */
  protected override paramState(i: number): Record<string, Tensor> {
    return this.state[i];
  }

  protected override checkStepLr(lr: number | undefined): void {
    if (lr !== undefined && this.lr === undefined) {
      throw new InputError('this AdaFactor uses relative step sizes (created without lr), so step() takes no learning rate; ' +
        'create it with an lr to drive it from a schedule');
    }
  }

  protected override update(i: number, grad: Tensor, lr: number | undefined): void {
    const p = this.params[i];
    const L = this.layouts[i];
    const s = this.state[i];
    const n = p.param.size;
    const groups = Math.max(1, Math.min(Math.ceil(n / 2048), MAX_GROUPS));
    const params: Param[] = [
      L.batches, L.rows, L.cols, n, p.param.offset, grad.offset, p.low?.offset ?? 0, groups,
      f32(lr ?? this.lr ?? 0), f32(this.eps1), f32(this.eps2), f32(this.clipThreshold),
      f32(this.beta1), f32(p.decay ? this.weightDecay : 0), f32(this.decayRate), this.lr === undefined ? 1 : 0,
      this.scaleParameter ? 1 : 0,
    ];
    const factored = L.factored ? ['FACTORED'] : [];
    const spec = (flags: string[], withCopy = false): Spec => this.kernelSpec(i, grad, { const: { MAX_GROUPS }, flags }, withCopy);
    const usq = spec(['USQ', 'UPDATE', ...factored]);
    const apply = spec(['APPLY', 'UPDATE', ...factored, ...(this.beta1 > 0 ? ['MOMENTUM'] : [])], true);
    const ctrl = this.control.buffer;
    const ema = s.ema?.buffer ?? this.unusedState.buffer;
    const gpu = this.gpu;
    if (L.factored) {
      const [row, col] = [s.row.buffer, s.col.buffer];
      gpu.dispatch(ADAFACTOR, spec(['ROWS']), [ctrl, grad.buffer, row], params, grid1d(L.batches * L.rows, 1));
      gpu.dispatch(ADAFACTOR, spec(['COLS']), [ctrl, grad.buffer, col], params, grid1d(L.batches * Math.ceil(L.cols / 32), 1));
      gpu.dispatch(ADAFACTOR, spec(['ROWMEAN']), [ctrl, grad.buffer, row, this.scratch.buffer], params, grid1d(L.batches, 1));
      gpu.dispatch(ADAFACTOR, usq, [ctrl, grad.buffer, p.param.buffer, row, col, this.scratch.buffer], params, [groups]);
      gpu.dispatch(ADAFACTOR, apply, [ctrl, grad.buffer, p.param.buffer, row, col, this.scratch.buffer, ema, this.copyBuffer(i)],
        params, grid1d(Math.ceil(n / 2)));
    } else {
      gpu.dispatch(ADAFACTOR, usq, [ctrl, grad.buffer, p.param.buffer, s.v.buffer, this.scratch.buffer], params, [groups]);
      gpu.dispatch(ADAFACTOR, apply, [ctrl, grad.buffer, p.param.buffer, s.v.buffer, this.scratch.buffer, ema, this.copyBuffer(i)],
        params, grid1d(Math.ceil(n / 2)));
    }
  }

  override dispose(): void {
    super.dispose();
    this.scratch.dispose();
  }
}
