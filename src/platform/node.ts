// Node host: Dawn through the `webgpu` package and the real file system.
import { promises as fs, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Platform } from './index.js';
import { setPlatform } from './index.js';

// Toggles: subgroup-matrix needs allow_unsafe_apis; NVIDIA hides shader-f16 without the f16 toggle.
const DAWN_TOGGLES = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];

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
  return mod.create(DAWN_TOGGLES);
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
