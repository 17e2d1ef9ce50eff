// Training configuration: defaults per preset, overridden by a JSON config file and then
// by flags; every field is checked with a message naming the field and what it accepts.
import { InputError } from '../errors.js';
import { MODEL_PRESETS, checkGptConfig } from '../models/config.js';

export type Precision = 'f32' | 'f16' | 'bf16';
export type OptimizerName = 'adamw' | 'sgd' | 'adafactor';
export type ScheduleName = 'cosine' | 'linear' | 'constant';

export interface TrainConfig {
  preset: string;
  /** Model overrides on top of the preset (blockSize, nLayer, nHead, nEmbd, dropout). */
  model: Partial<Record<'blockSize' | 'nLayer' | 'nHead' | 'nEmbd' | 'dropout', number>>;
  batchSize: number;
  seqLen: number;
  gradAccum: number;
  steps: number;
  optimizer: OptimizerName;
  lr: number;
  minLr: number;
  warmup: number;
  schedule: ScheduleName;
  weightDecay: number;
  beta1: number;
  beta2: number;
  momentum: number;
  gradClip: number;
  precision: Precision;
  seed: number;
  logEvery: number;
  evalEvery: number;
  evalBatches: number;
  /** Stop when validation loss has not improved for this many evaluations (0: never). */
  patience: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  sampleTokens: number;
}

const BASE: Omit<TrainConfig, 'preset' | 'batchSize' | 'seqLen' | 'steps' | 'lr' | 'warmup'> = {
  model: {}, gradAccum: 1, optimizer: 'adamw', minLr: 0, schedule: 'cosine', weightDecay: 0.1, beta1: 0.9,
  beta2: 0.95, momentum: 0.9, gradClip: 1.0, precision: 'f32', seed: 1337, logEvery: 10, evalEvery: 100,
  evalBatches: 8, patience: 0, checkpointEvery: 200, keepCheckpoints: 2, sampleTokens: 0,
};

const PRESET_TRAINING: Record<string, Pick<TrainConfig, 'batchSize' | 'seqLen' | 'steps' | 'lr' | 'warmup'> & Partial<TrainConfig>> = {
  tiny: { batchSize: 8, seqLen: 64, steps: 200, lr: 3e-3, warmup: 20, logEvery: 10, evalEvery: 50, evalBatches: 4, checkpointEvery: 100, sampleTokens: 120 },
  small: { batchSize: 32, seqLen: 256, steps: 2000, lr: 1e-3, warmup: 100, evalEvery: 200, checkpointEvery: 500, sampleTokens: 200 },
  'gpt2-124m': { batchSize: 16, seqLen: 1024, steps: 10000, lr: 6e-4, warmup: 700, evalEvery: 500, checkpointEvery: 1000, sampleTokens: 200 },
};

export function presetConfig(preset: string): TrainConfig {
  const p = PRESET_TRAINING[preset];
  if (!p || !MODEL_PRESETS[preset]) throw new InputError(`unknown preset '${preset}'; choose one of: ${Object.keys(PRESET_TRAINING).join(', ')}`);
  return { ...BASE, ...p, preset, model: {} };
}

type Check = (v: unknown) => string | null;
const num = (min: number, max = Infinity, integer = false): Check => (v) =>
  typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))
    ? `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]` : null;
const oneOf = (...xs: string[]): Check => (v) => (typeof v === 'string' && xs.includes(v) ? null : `must be one of ${xs.join(', ')}`);

const CHECKS: Record<keyof TrainConfig, Check> = {
  preset: oneOf(...Object.keys(PRESET_TRAINING)),
  model: (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'must be an object'),
  batchSize: num(1, 1 << 16, true), seqLen: num(1, 1 << 16, true), gradAccum: num(1, 1024, true),
  steps: num(0, 1e9, true), optimizer: oneOf('adamw', 'sgd', 'adafactor'), lr: num(0, 10), minLr: num(0, 10),
  warmup: num(0, 1e9, true), schedule: oneOf('cosine', 'linear', 'constant'), weightDecay: num(0, 10),
  beta1: num(0, 0.999999), beta2: num(0, 0.999999999), momentum: num(0, 0.999999), gradClip: num(0, 1e9),
  precision: oneOf('f32', 'f16', 'bf16'), seed: num(0, 2 ** 32 - 1, true), logEvery: num(1, 1e9, true),
  evalEvery: num(0, 1e9, true), evalBatches: num(1, 1e6, true), patience: num(0, 1e6, true),
  checkpointEvery: num(0, 1e9, true), keepCheckpoints: num(1, 1e6, true), sampleTokens: num(0, 1e6, true),
};

const MODEL_KEYS = ['blockSize', 'nLayer', 'nHead', 'nEmbd', 'dropout'];

/** Applies overrides (from a config file or flags) onto `base`, rejecting unknown keys and bad values. */
export function applyOverrides(base: TrainConfig, overrides: Record<string, unknown>, source: string): TrainConfig {
  const out: TrainConfig = { ...base, model: { ...base.model } };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in CHECKS)) {
      throw new InputError(`${source}: unknown setting '${key}'; known settings: ${Object.keys(CHECKS).join(', ')}`);
    }
    const problem = CHECKS[key as keyof TrainConfig](value);
    if (problem) throw new InputError(`${source}: '${key}' ${problem}, got ${JSON.stringify(value)}`);
    if (key === 'model') {
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (!MODEL_KEYS.includes(mk)) throw new InputError(`${source}: unknown model setting '${mk}'; known: ${MODEL_KEYS.join(', ')}`);
        if (typeof mv !== 'number') throw new InputError(`${source}: model.${mk} must be a number, got ${JSON.stringify(mv)}`);
        (out.model as Record<string, number>)[mk] = mv;
      }
    } else {
      (out as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

/** Checks that settings fit together, once all overrides are applied. */
export function checkTrainConfig(cfg: TrainConfig, source: string): void {
  if (cfg.minLr > cfg.lr) throw new InputError(`${source}: minLr (${cfg.minLr}) must not exceed lr (${cfg.lr})`);
  const model = { ...MODEL_PRESETS[cfg.preset], ...cfg.model };
  try {
    // The vocabulary comes from the data later; any valid size stands in for it here.
    checkGptConfig({ ...model, vocabSize: 2 });
  } catch (e) {
    throw e instanceof InputError ? new InputError(`${source}: ${e.message}`) : e;
  }
  if (cfg.seqLen > model.blockSize) {
    throw new InputError(`${source}: seqLen (${cfg.seqLen}) exceeds model.blockSize (${model.blockSize}); lower seqLen or raise model.blockSize`);
  }
}

/** Parses a JSON config file's text; `preset` inside it picks the base. */
export function parseConfigFile(text: string, path: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new InputError(`${path} must hold a JSON object of settings`);
  return obj as Record<string, unknown>;
}
