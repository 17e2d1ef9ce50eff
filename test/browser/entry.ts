// Browser test bundle entry (built into dist/test-browser.js by scripts/build.mjs); driven by
// test/browser.test.ts, which loads it in headless Chromium and calls `runWebtrainTests()`.
// The test files come from scripts/browser-tests.mjs: every test/gpu/*.test.ts and
// test/browser/cases/*.ts (see test/browser.test.ts for how to add a case).
import { testFiles } from 'virtual:browser-test-files';
import { testGpu } from '../helpers/gpu.js';
import { runTests } from './runner.js';
import type { BrowserTestReport } from './report.js';

async function openAdapter(): Promise<BrowserTestReport['adapter']> {
  try {
    const { caps } = await testGpu();
    return { vendor: caps.adapter.vendor, architecture: caps.adapter.architecture, description: caps.adapter.description, f16: caps.f16 };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function runWebtrainTests(): Promise<BrowserTestReport> {
  const adapter = await openAdapter();
  if ('error' in adapter) return { adapter, files: Object.keys(testFiles), fileErrors: [], collected: 0, cases: [], ms: 0 };
  return runTests(testFiles, adapter);
}

Object.assign(globalThis, { runWebtrainTests });
