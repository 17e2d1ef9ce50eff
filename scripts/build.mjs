// Bundles the Node CLI, the benchmark runner and the browser library from the same sources.
import { build } from 'esbuild';
import { esbuildLoaders } from './assets.mjs';
import { browserTestsPlugin } from './browser-tests.mjs';

const common = { bundle: true, format: 'esm', loader: esbuildLoaders, sourcemap: true, logLevel: 'warning', target: 'es2022' };
const node = { ...common, platform: 'node', external: ['webgpu'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } };

await Promise.all([
  build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/webtrain.mjs',
    banner: { js: '#!/usr/bin/env node\n' + node.banner.js } }),
  build({ ...node, entryPoints: ['bench/main.ts'], outfile: 'dist/bench.mjs' }),
  build({ ...common, platform: 'browser', entryPoints: ['src/browser/index.ts'], outfile: 'dist/webtrain.browser.js' }),
  build({ ...common, platform: 'browser', entryPoints: ['test/browser/entry.ts'], outfile: 'dist/test-browser.js',
    plugins: [browserTestsPlugin()] }),
  build({ ...node, entryPoints: ['test/device/entry.ts'], outfile: 'dist/gpu-tests.mjs', plugins: [browserTestsPlugin({ host: 'node' })] }),
]);
