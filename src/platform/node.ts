// Node host: Dawn through the `webgpu` package and the real file system.
import { promises as fs, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Platform } from './index.js';
import { setPlatform } from './index.js';

// Toggles: subgroup-matrix needs allow_unsafe_apis; NVIDIA hides shader-f16 without the f16 toggle.
// WEBTRAIN_UNSAFE_FAST=1 also turns off Dawn's robustness transform (bounds clamping on every
// storage access; up to half of GEMM throughput on NVIDIA). Only safe because webtrain's kernels
// guard their own edges; the toggle reaches the device through the same flag.
function dawnToggles(): string[] {
  const features = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];
  if (process.env.WEBTRAIN_UNSAFE_FAST === '1') features.push('disable_robustness');
  return [`enable-dawn-features=${features.join(',')}`];
}

let gpuPromise: Promise<GPU | null> | null = null;

async function loadDawn(): Promise<GPU | null> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const require = createRequire(import.meta.url);
  let mod: { create(opts: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = require('webgpu');
  } catch (e) {
    throw new Error(`webtrain: cannot load the 'webgpu' package (Dawn): ${(e as Error).message}. Run npm install.`);
  }
  Object.assign(globalThis, mod.globals);
  return mod.create(dawnToggles());
}

export const nodePlatform: Platform = {
  name: 'node',
  gpu: () => (gpuPromise ??= loadDawn()),
  noAdapterHint: () =>
    'No WebGPU adapter was found by Dawn. Install a Vulkan driver for your GPU, or the software driver: ' +
    'libvulkan1 and mesa-vulkan-drivers >= 25 (Debian bookworm: from bookworm-backports; bookworm\'s own ' +
    'Mesa 22 lavapipe is too old). See .ci/install-system.sh.',
  readFile: async (p) => new Uint8Array(await fs.readFile(p)),
  async writeFileAtomic(p, data) {
    await fs.mkdir(dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${process.pid}-${Date.now()}`;
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, p);
  },
  appendFile: (p, data) => fs.appendFile(p, data),
  exists: async (p) => existsSync(p),
  listDir: (p) => fs.readdir(p),
  mkdirp: async (p) => void (await fs.mkdir(p, { recursive: true })),
  remove: (p) => fs.rm(p, { recursive: true, force: true }),
};

export function useNodePlatform(): void {
  setPlatform(nodePlatform);
}

export { join as joinPath };
