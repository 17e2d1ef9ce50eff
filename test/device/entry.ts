// The GPU tests (test/gpu/*.test.ts) bundled for Node (dist/gpu-tests.mjs), for machines that
// have a real GPU but no vitest or node_modules, such as the H100 of ../shared/device: the
// tensor-core kernels' comparisons with the f64 references only run where subgroup matrices exist.
//   node dist/gpu-tests.mjs [substring...]   (files whose path contains a substring; default all)
// Prints each case and a summary; exits 1 when a case or a file fails. The same runner as the
// Chromium page (vitest's runner and matchers), on the Node platform (Dawn, as the CLI opens it).
import { testFiles } from 'virtual:browser-test-files';
import { runFile } from '../browser/runner.js';

const filters = process.argv.slice(2);
const files = Object.keys(testFiles).filter((f) => !filters.length || filters.some((s) => f.includes(s)));
if (!files.length) {
  console.error(`no test file matches ${filters.join(', ')}; files: ${Object.keys(testFiles).join(', ')}`);
  process.exit(1);
}
let passed = 0, failed = 0;
for (const file of files) {
  const report = await runFile(file, testFiles[file], () => {});
  for (const c of report.cases) {
    console.log(`${c.state === 'pass' ? 'ok  ' : 'FAIL'} ${file} > ${c.name} (${c.ms} ms)`);
    for (const e of c.errors) console.log('     ' + e.split('\n').join('\n     '));
  }
  for (const e of report.errors) console.log(`FAIL ${file}: ${e}`);
  passed += report.cases.filter((c) => c.state === 'pass').length;
  failed += report.cases.filter((c) => c.state !== 'pass').length + (report.errors.length ? 1 : 0);
}
console.log(`gpu tests: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
