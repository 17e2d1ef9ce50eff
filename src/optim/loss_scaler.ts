// Dynamic loss scaling for f16 training. The scale lives in a GPU buffer: backward kernels read it from
// `scale`, the optimizer's gradient pass detects inf/nan and updates it on the GPU (see
// shaders/optim_finalize.wgsl), and the host reads it only when it wants to log it.
import type { Gpu } from '../gpu/device.js';
import { InputError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';

export interface LossScalerOptions {
  /** Starting scale (default 2^16). */
  initScale?: number;
  /** Factor applied after `growthInterval` good steps in a row (default 2). */
  growthFactor?: number;
  /** Factor applied when a gradient has inf/nan (default 0.5). */
  backoffFactor?: number;
  /** Good steps before the scale grows (default 2000). */
  growthInterval?: number;
}

/** State words: [scale, good steps since the last change, skipped steps in total, unused]. */
export const SCALER_WORDS = 4;

export class DynamicLossScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  /** [scale, good steps, skipped steps, 0] as f32; checkpointed with the optimizer. */
  readonly state: Tensor;
  /** The current loss scale (one f32 at offset 0 of `state`): multiply the loss gradient by it. */
  readonly scale: Tensor;
  /** Steps skipped so far because a gradient had inf/nan (one f32). */
  readonly skipped: Tensor;

  constructor(gpu: Gpu, opts: LossScalerOptions = {}) {
    const initScale = opts.initScale ?? 2 ** 16;
    this.growthFactor = opts.growthFactor ?? 2;
    this.backoffFactor = opts.backoffFactor ?? 0.5;
    this.growthInterval = opts.growthInterval ?? 2000;
    if (!(initScale > 0 && Number.isFinite(initScale))) throw new InputError(`loss scale initScale must be a positive number, got ${initScale}`);
    if (!(this.growthFactor > 1)) throw new InputError(`loss scale growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) {
      throw new InputError(`loss scale backoffFactor must be in (0, 1), got ${this.backoffFactor}`);
    }
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval >= 1)) {
      throw new InputError(`loss scale growthInterval must be a positive integer, got ${this.growthInterval}`);
    }
    this.state = Tensor.from(gpu, [initScale, 0, 0, 0], [SCALER_WORDS]);
    this.scale = this.state.slice(0, 0, 1);
    this.skipped = this.state.slice(0, 2, 3);
  }

  /** Reads the scale back (waits for the GPU: call it when logging, not every step). */
  async readScale(): Promise<number> {
    return this.scale.item();
  }

  async readSkipped(): Promise<number> {
    return this.skipped.item();
  }

  dispose(): void {
    this.scale.dispose();
    this.skipped.dispose();
    this.state.dispose();
  }
}
