// esbuild plugin for the browser test bundle (test/browser/entry.ts -> dist/test-browser.js), and with
// `{ host: 'node' }` for the Node bundle of the GPU tests (test/device/entry.ts -> dist/gpu-tests.mjs),
// which keeps the Node host and lists only test/gpu.
// - `virtual:browser-test-files` becomes a generated module listing every browser test file,
//   each behind a lazy import, so a new test/gpu/*.test.ts joins the browser run at the next build.
// - test/helpers/host.ts (Node platform) is swapped for test/browser/host.ts (browser platform),
//   so the shared helper test/helpers/gpu.ts works unchanged on both hosts.
// - Any other `node:*` import becomes a module that throws when loaded: the test file that reaches it
//   fails in the page with a message naming the import, and the other files still build and run.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Folders whose test files run in Chromium: the GPU tests (also run by vitest in Node) and browser-only cases. */
const TEST_DIRS = [
  { dir: 'test/gpu', pattern: /\.test\.ts$/ },
  { dir: 'test/browser/cases', pattern: /(?<!\.d)\.ts$/ },
];

/** Repository-relative paths of the browser test files, sorted. */
export function browserTestFiles(dirs = TEST_DIRS) {
  return dirs.flatMap(({ dir, pattern }) =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir)).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`)
      : []);
}

export function browserTestsPlugin({ host = 'browser' } = {}) {
  const dirs = host === 'node' ? TEST_DIRS.slice(0, 1) : TEST_DIRS;
  const nodeHost = join(root, 'test/helpers/host.ts');
  const browserHost = join(root, 'test/browser/host.ts');
  return {
    name: 'webtrain-browser-tests',
    setup(build) {
      build.onResolve({ filter: /^virtual:browser-test-files$/ }, () => ({ path: 'browser-test-files', namespace: 'browser-tests' }));
      build.onLoad({ filter: /.*/, namespace: 'browser-tests' }, () => {
        const entries = browserTestFiles(dirs).map((f) => `  ${JSON.stringify(f)}: () => import(${JSON.stringify('./' + f)}),`);
        return {
          contents: `export const testFiles = {\n${entries.join('\n')}\n};\n`,
          loader: 'js',
          resolveDir: root,
          // Adding or removing a test file changes the list (for esbuild's watch mode).
          watchDirs: dirs.map(({ dir }) => join(root, dir)).filter((d) => existsSync(d)),
        };
      });
      if (host === 'node') return;
      build.onResolve({ filter: /\/host\.js$/ }, (args) =>
        resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')) === nodeHost ? { path: browserHost } : undefined);
      build.onResolve({ filter: /^node:/ }, (args) => ({
        path: `${args.path} (imported by ${relative(root, args.importer)})`, namespace: 'node-only',
      }));
      build.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} is Node-only and does not exist in the browser test page; ` +
          'GPU tests must be portable (use platform() from src/platform, or keep Node-only tests out of test/gpu/)')});`,
        loader: 'js',
      }));
    },
  };
}
