// Learning-rate schedules: pure functions of the 0-based index of the update being made. The value
// goes to the optimizer kernels through their uniform parameters (`opt.step(grads, schedule(step))`).
import { InputError } from '../errors.js';

export type Schedule = (step: number) => number;

export interface WarmupDecayOptions {
  /** Peak learning rate, reached at the last warmup step. */
  lr: number;
  /** Steps of linear warmup: step s < warmupSteps uses lr * (s + 1) / warmupSteps. */
  warmupSteps: number;
  /** The decay ends at this step; from then on the rate is minLr. */
  totalSteps: number;
  /** Final learning rate (default 0). */
  minLr?: number;
}

export function constantSchedule(lr: number): Schedule {
  checkRate('lr', lr);
  return (step) => { checkStep(step); return lr; };
}

/** Linear warmup, then cosine decay from lr to minLr over [warmupSteps, totalSteps]. */
export function warmupCosineSchedule(opts: WarmupDecayOptions): Schedule {
  const { lr, warmupSteps, totalSteps, minLr } = checkWarmupDecay(opts);
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    const progress = decayProgress(step, warmupSteps, totalSteps);
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** Linear warmup, then linear decay from lr to minLr over [warmupSteps, totalSteps]. */
export function warmupLinearSchedule(opts: WarmupDecayOptions): Schedule {
  const { lr, warmupSteps, totalSteps, minLr } = checkWarmupDecay(opts);
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
    return lr - (lr - minLr) * decayProgress(step, warmupSteps, totalSteps);
  };
}

function decayProgress(step: number, warmupSteps: number, totalSteps: number): number {
  if (totalSteps === warmupSteps) return 1;
  return Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
}

function checkRate(name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new InputError(`${name} must be a finite number >= 0, got ${v}`);
}

function checkStep(step: number): void {
  if (!(Number.isInteger(step) && step >= 0)) throw new InputError(`a schedule's step must be an integer >= 0, got ${step}`);
}

function checkWarmupDecay(o: WarmupDecayOptions): Required<WarmupDecayOptions> {
  const minLr = o.minLr ?? 0;
  checkRate('lr', o.lr);
  checkRate('minLr', minLr);
  if (minLr > o.lr) throw new InputError(`minLr (${minLr}) must not exceed lr (${o.lr})`);
  if (!(Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0)) throw new InputError(`warmupSteps must be an integer >= 0, got ${o.warmupSteps}`);
  if (!(Number.isInteger(o.totalSteps) && o.totalSteps >= o.warmupSteps)) {
    throw new InputError(`totalSteps must be an integer >= warmupSteps (${o.warmupSteps}), got ${o.totalSteps}`);
  }
  return { lr: o.lr, warmupSteps: o.warmupSteps, totalSteps: o.totalSteps, minLr };
}
