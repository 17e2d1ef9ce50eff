// Runs the bundled test files inside the page with vitest's own runner (@vitest/runner) and
// matchers (@vitest/expect on chai), so the files written for vitest in Node run unchanged:
// the same globals (test/it/describe/suite, hooks, expect, assert), the same `.each`,
// `.only`-is-an-error and timeout rules. `vi` (mocks) is not provided: GPU tests do not mock.
import * as chai from 'chai';
import {
  ASYMMETRIC_MATCHERS_OBJECT, GLOBAL_EXPECT, JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState,
  type ExpectStatic,
} from '@vitest/expect';
import {
  afterAll, afterEach, beforeAll, beforeEach, describe, getCurrentTest, it, onTestFailed, onTestFinished, startTests, suite, test,
  type File, type Task, type VitestRunner,
} from '@vitest/runner';
import type { BrowserCaseResult, BrowserTestReport } from './report.js';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

/** A standalone `expect`, set up the way vitest's createExpect does (minus snapshots and polling). */
function createExpect(): ExpectStatic {
  const expect = ((value: unknown, message?: string) => {
    setState({ assertionCalls: getState(expect).assertionCalls + 1 }, expect);
    const assertion = chai.expect(value, message);
    const current = getCurrentTest();
    // Ties un-awaited `.resolves/.rejects` to the test, so the runner waits for them.
    return current ? (assertion as unknown as { withTest(t: unknown): unknown }).withTest(current) : assertion;
  }) as ExpectStatic;
  Object.assign(expect, chai.expect);
  Object.assign(expect, (globalThis as Record<symbol, unknown>)[ASYMMETRIC_MATCHERS_OBJECT]);
  expect.getState = () => getState(expect);
  expect.setState = (state) => setState(state, expect);
  expect.extend = (matchers) => (chai.expect as unknown as { extend(e: ExpectStatic, m: unknown): void }).extend(expect, matchers);
  setState({ assertionCalls: 0, isExpectingAssertions: false, isExpectingAssertionsError: null, expectedAssertionsNumber: null,
    expectedAssertionsNumberErrorGen: null, environment: 'browser' }, expect);
  return expect;
}

const expect = createExpect();
Object.assign(globalThis, {
  [GLOBAL_EXPECT]: expect, expect, assert: chai.assert, chai,
  test, it, describe, suite, beforeAll, afterAll, beforeEach, afterEach, onTestFailed, onTestFinished,
});

const TIMEOUT_MS = 120_000; // as vitest.config.ts

function errorsOf(task: Task): string[] {
  return (task.result?.errors ?? []).map((e) => [e.message, e.diff].filter(Boolean).join('\n'));
}

function casesOf(task: Task, file: string, prefix: string[] = []): BrowserCaseResult[] {
  if (task.type === 'suite') {
    const names = task.file === task ? prefix : [...prefix, task.name];
    return task.tasks.flatMap((t) => casesOf(t, file, names));
  }
  return [{ file, name: [...prefix, task.name].join(' > '), state: task.result?.state ?? task.mode,
    ms: Math.round(task.result?.duration ?? 0), errors: errorsOf(task) }];
}

/** Imports and runs every file in `testFiles` (path -> lazy import), one case at a time. */
export async function runTests(testFiles: Record<string, () => Promise<unknown>>, adapter: BrowserTestReport['adapter']): Promise<BrowserTestReport> {
  const start = performance.now();
  let collected = 0;
  const runner: VitestRunner = {
    config: {
      root: '/', setupFiles: [], passWithNoTests: false, allowOnly: false, maxConcurrency: 1, retry: 0,
      testTimeout: TIMEOUT_MS, hookTimeout: TIMEOUT_MS,
      sequence: { seed: 0, hooks: 'stack', setupFiles: 'list' },
    },
    importFile: async (path) => {
      const load = testFiles[path];
      if (!load) throw new Error(`no bundled test file ${path}`);
      await load();
    },
    onCollected: (files: File[]) => {
      const count = (t: Task): number => (t.type === 'suite' ? t.tasks.reduce((n, c) => n + count(c), 0) : 1);
      collected = files.reduce((n, f) => n + count(f), 0);
    },
    onAfterRunTask: (t) => console.log(`[browser-test] ${t.result?.state ?? t.mode} ${t.name} (${Math.round(t.result?.duration ?? 0)} ms)`),
  };
  const files = await startTests(Object.keys(testFiles), runner);
  return {
    adapter,
    files: Object.keys(testFiles),
    fileErrors: files.filter((f) => errorsOf(f).length).map((f) => ({ file: f.filepath, errors: errorsOf(f) })),
    collected,
    cases: files.flatMap((f) => casesOf(f, f.filepath)),
    ms: Math.round(performance.now() - start),
  };
}
