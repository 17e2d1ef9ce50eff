// Browser entry: the same runtime, with navigator.gpu and an in-memory file system.
import { useBrowserPlatform } from '../platform/browser.js';

useBrowserPlatform();

export { Gpu } from '../gpu/device.js';
export { Tensor } from '../tensor/tensor.js';
export * as ops from '../tensor/ops.js';
