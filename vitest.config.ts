import { defineConfig } from 'vitest/config';
// @ts-expect-error plain ESM helper shared with the esbuild script
import { assetModule } from './scripts/assets.mjs';

export default defineConfig({
  plugins: [{ name: 'webtrain-assets', enforce: 'pre', load: (id: string) => assetModule(id) }],
  test: {
    globals: true,
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU device per worker; the CPU adapter is slow, so keep workers to the 2 cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    env: { XDG_RUNTIME_DIR: '/tmp' },
  },
});
