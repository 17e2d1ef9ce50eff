// Optimizers as WGSL kernels, their schedules, gradient clipping, loss scaling and accumulation.
//
// A training step with all of it (nothing below waits for the GPU):
//   const scaler = new DynamicLossScaler(gpu);                         // f16 mode only
//   const opt = new AdamW(gpu, params, { lr: 6e-4, weightDecay: 0.1, maxGradNorm: 1, lossScaler: scaler });
//   const schedule = warmupCosineSchedule({ lr: 6e-4, warmupSteps: 100, totalSteps: 5000, minLr: 6e-5 });
//   ...backward seeded with scaler.scale (a 1-element GPU tensor), grads by parameter name...
//   opt.step(grads, schedule(opt.stepCount));
//   when logging: await opt.gradNorm.item(), await scaler.readScale(), await scaler.readSkipped()
//   checkpoint: opt.stateTensors() and opt.stepCount; resume: opt.loadState(tensors, stepCount)
export { Optimizer, type ParamSpec, type Grads, type CommonOptions } from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { AdaFactor, type AdaFactorOptions } from './adafactor.js';
export { DynamicLossScaler, type LossScalerOptions } from './loss_scaler.js';
export { accumulate, GradAccumulator } from './accumulate.js';
export { type Schedule, type WarmupDecayOptions, constantSchedule, warmupCosineSchedule, warmupLinearSchedule } from './schedule.js';
