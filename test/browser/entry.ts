// Browser test bundle entry (built into dist/test-browser.js by scripts/build.mjs); driven by
// test/browser.test.ts through `globalThis.webtrainTests`. The test files come from
// scripts/browser-tests.mjs: every test/gpu/*.test.ts and test/browser/cases/*.ts
// (test/browser.test.ts says how to add a case).
import { testFiles } from 'virtual:browser-test-files';
import { testGpu } from '../helpers/gpu.js';
import { runFile } from './runner.js';
import type { TestPage } from './report.js';

const webtrainTests: TestPage = {
  files: Object.keys(testFiles),
  async adapter() {
    try {
      const { caps } = await testGpu();
      const { vendor, architecture, description } = caps.adapter;
      const subgroupSizes: [number, number] | null = caps.subgroups ? [caps.subgroupMinSize, caps.subgroupMaxSize] : null;
      return { vendor, architecture, description, f16: caps.f16, subgroupSizes };
    } catch (e) {
      return { error: (e as Error).message };
    }
  },
  async runFile(file) {
    const load = testFiles[file];
    if (!load) throw new Error(`${file} is not in the browser test bundle`);
    return runFile(file, load);
  },
};

Object.assign(globalThis, { webtrainTests });
