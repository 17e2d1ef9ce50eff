// Browser entry (dist/webtrain.browser.js): the same runtime, with navigator.gpu and an
// in-memory file system for checkpoints and metrics.
import { useBrowserPlatform } from '../platform/browser.js';

useBrowserPlatform();

export { Gpu } from '../gpu/device.js';
export { Tensor } from '../tensor/tensor.js';
export * as ops from '../tensor/ops.js';
export { matmul } from '../tensor/matmul.js';
export { Tape, Var } from '../tensor/autograd.js';
export { Gpt } from '../models/gpt.js';
export { MODEL_PRESETS } from '../models/config.js';
export { Trainer } from '../train/trainer.js';
export { presetConfig, applyOverrides } from '../train/config.js';
export { generate } from '../train/generate.js';
export { tokenizerFromJson, trainBpe } from '../text/tokenizer.js';
export { platform } from '../platform/index.js';
