// Optimizers as WGSL kernels, their schedules, gradient clipping, loss scaling and accumulation.
export { Optimizer, type ParamSpec, type Grads, type CommonOptions } from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { AdaFactor, type AdaFactorOptions } from './adafactor.js';
export { DynamicLossScaler, type LossScalerOptions } from './loss_scaler.js';
export { accumulate, GradAccumulator } from './accumulate.js';
export { type Schedule, type WarmupDecayOptions, constantSchedule, warmupCosineSchedule, warmupLinearSchedule } from './schedule.js';
