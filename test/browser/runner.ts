// Runs bundled test files inside the page with vitest's own runner (@vitest/runner) and
// matchers (@vitest/expect on chai), so files written for vitest in Node run unchanged:
// the same globals (test/it/describe/suite, hooks, expect, assert), the same `.each`,
// `.only`-is-an-error and timeout rules. `vi` (mocks) is not provided: GPU tests do not mock.
import * as chai from 'chai';
import {
  ASYMMETRIC_MATCHERS_OBJECT, GLOBAL_EXPECT, JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState,
  type ExpectStatic,
} from '@vitest/expect';
import {
  afterAll, afterEach, beforeAll, beforeEach, describe, getCurrentTest, it, onTestFailed, onTestFinished, startTests, suite, test,
  type File, type Task, type Test, type VitestRunner,
} from '@vitest/runner';
import { PROGRESS, type CaseReport, type FileReport, type Progress } from './report.js';

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

function testsOf(task: Task): Test[] {
  return task.type === 'suite' ? task.tasks.flatMap(testsOf) : task.type === 'test' ? [task] : [];
}

function caseReport(t: Test): CaseReport {
  const names: string[] = [];
  for (let s: Task | undefined = t; s && s !== t.file; s = s.suite) names.unshift(s.name);
  return { name: names.join(' > '), state: t.result?.state ?? t.mode, ms: Math.round(t.result?.duration ?? 0), errors: errorsOf(t) };
}

const logProgress = (p: Progress) => console.log(PROGRESS + JSON.stringify(p));

/** Imports one test file (`load`) and runs its cases one at a time, reporting progress as it goes (default: console lines for the page's driver). */
export async function runFile(path: string, load: () => Promise<unknown>, progress: (p: Progress) => void = logProgress): Promise<FileReport> {
  const start = performance.now();
  let collected = 0;
  const runner: VitestRunner = {
    config: {
      root: '/', setupFiles: [], passWithNoTests: false, allowOnly: false, maxConcurrency: 1, retry: 0,
      testTimeout: TIMEOUT_MS, hookTimeout: TIMEOUT_MS,
      sequence: { seed: 0, hooks: 'stack', setupFiles: 'list' },
    },
    importFile: async () => void (await load()),
    onCollected: (files: File[]) => void (collected = files.flatMap(testsOf).length),
    onBeforeRunTask: (t) => progress({ started: caseReport(t).name }),
    onAfterRunTask: (t) => progress({ finished: caseReport(t) }),
  };
  const [file] = await startTests([path], runner);
  return { file: path, errors: errorsOf(file), collected, cases: testsOf(file).map(caseReport), ms: Math.round(performance.now() - start) };
}
