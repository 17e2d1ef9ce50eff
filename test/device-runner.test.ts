// dist/gpu-tests.mjs (test/device/entry.ts) runs the GPU test files without vitest, for the GPU
// machine; here it runs one file on the CPU adapter and must report every case of it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the Node bundle of the GPU tests runs the chosen files and reports each case', async () => {
  const { stdout } = await run(process.execPath, ['dist/gpu-tests.mjs', 'nn-dropout'], { timeout: 120_000 });
  const cases = stdout.split('\n').filter((l) => l.startsWith('ok   test/gpu/nn-dropout.test.ts > '));
  expect(cases.length).toBeGreaterThanOrEqual(4);
  expect(stdout).toContain(`gpu tests: ${cases.length} passed, 0 failed`);
});

test('a filter that matches no file is an error that lists the files', async () => {
  const failure = await run(process.execPath, ['dist/gpu-tests.mjs', 'no-such-file'], { timeout: 60_000 }).then(() => null, (e) => e);
  expect(failure?.code).toBe(1);
  expect(failure.stderr).toMatch(/no test file matches no-such-file; files: .*test\/gpu\/ops\.test\.ts/);
});
