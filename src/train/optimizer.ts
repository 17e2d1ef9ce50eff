// The trainer's view of an optimizer: built from the training config, with the loss
// scaler in f16 mode, and the learning-rate schedule.
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../tensor/tensor.js';
import { scale } from '../tensor/ops.js';
import { AdamW } from '../optim/adamw.js';
import { SGD } from '../optim/sgd.js';
import { AdaFactor } from '../optim/adafactor.js';
import { DynamicLossScaler } from '../optim/loss_scaler.js';
import type { Optimizer, ParamSpec } from '../optim/optimizer.js';
import { constantSchedule, warmupCosineSchedule, warmupLinearSchedule } from '../optim/schedule.js';
import type { TrainConfig } from './config.js';

/** The learning rate at `step` (0-based) under the config's schedule. */
export function learningRate(cfg: TrainConfig, step: number): number {
  if (cfg.schedule === 'constant') return constantSchedule(cfg.lr)(step);
  const opts = { lr: cfg.lr, minLr: cfg.minLr, warmupSteps: cfg.warmup, totalSteps: Math.max(cfg.steps, cfg.warmup) };
  return (cfg.schedule === 'cosine' ? warmupCosineSchedule(opts) : warmupLinearSchedule(opts))(step);
}

export class TrainOptimizer {
  readonly scaler: DynamicLossScaler | null;
  readonly inner: Optimizer;

  constructor(readonly gpu: Gpu, cfg: TrainConfig, params: ParamSpec[]) {
    this.scaler = cfg.precision === 'f16' ? new DynamicLossScaler(gpu) : null;
    const common = { maxGradNorm: cfg.gradClip > 0 ? cfg.gradClip : undefined, lossScaler: this.scaler ?? undefined };
    this.inner = cfg.optimizer === 'sgd'
      ? new SGD(gpu, params, { ...common, lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay })
      : cfg.optimizer === 'adafactor'
        ? new AdaFactor(gpu, params, { ...common, lr: cfg.lr, weightDecay: cfg.weightDecay })
        : new AdamW(gpu, params, { ...common, lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, weightDecay: cfg.weightDecay });
  }

  private seeds = new Map<number, Tensor>();

  /**
   * The gradient that seeds backward from the loss: `factor`, times the loss scale when
   * scaling. The unscaled seed is uploaded once and shared (backward disposes its reference).
   */
  lossSeed(factor: number): Tensor {
    if (this.scaler) return scale(this.scaler.scale, factor);
    let seed = this.seeds.get(factor);
    if (!seed) this.seeds.set(factor, (seed = Tensor.from(this.gpu, [factor], [1])));
    return seed.ref();
  }

  step(grads: Map<string, Tensor>, lr: number): void {
    this.inner.step(grads, lr);
  }

  stateTensors(): Map<string, Tensor> {
    return new Map(Object.entries(this.inner.stateTensors()));
  }

  loadState(state: Map<string, Tensor>, step: number): void {
    this.inner.loadState(Object.fromEntries(state), step);
  }

  /** Values worth logging (reads the GPU: call when logging). */
  async extraLogs(): Promise<{ grad_norm?: number; loss_scale?: number }> {
    const out: { grad_norm?: number; loss_scale?: number } = { grad_norm: await this.inner.gradNorm.item() };
    if (this.scaler) out.loss_scale = await this.scaler.readScale();
    return out;
  }

  dispose(): void {
    for (const t of this.seeds.values()) t.dispose();
    this.inner.dispose();
    this.scaler?.dispose();
  }
}
