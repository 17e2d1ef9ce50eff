// Runs the GPU tests again inside headless Chromium, from the browser bundle dist/test-browser.js,
// where WebGPU is SwiftShader without shader-f16, so the f32 path of every kernel is the one exercised.
//
// Adding a browser case: write an ordinary vitest file (globals `test`/`expect`/`describe`, and
// `const gpu = await testGpu()` from test/helpers/gpu.ts), then
//   - put it in test/gpu/NAME.test.ts to run it in Node AND in Chromium, or
//   - put it in test/browser/cases/NAME.ts to run it only in Chromium (e.g. training `tiny` in the page).
// The next build picks it up (scripts/browser-tests.mjs); nothing else to register. `npm test` builds
// first; when running vitest directly, run `npm run build` after changing code, or the page runs the old bundle. In slow cases use
// `isBrowser` from test/helpers/gpu.ts to shrink sizes in the page rather than skipping anything.
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { browserTestFiles } from '../scripts/browser-tests.mjs';
import type { BrowserTestReport } from './browser/report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/test-browser.js');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// PLATFORM.md's tested flags; playwright adds --headless and a fresh profile directory.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// SwiftShader on 2 CI cores: the whole browser run must finish well inside this.
const RUN_TIMEOUT_MS = 240_000;

/** Serves the test page and the bundle on 127.0.0.1 (a secure context, so navigator.gpu exists). */
async function servePage(): Promise<Server> {
  const page = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>webtrain browser tests</title>' +
    '<script type="module" src="/test-browser.js"></script>';
  const server = createServer((req, res) => {
    const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type }).end(body);
    if (req.url === '/') send('text/html', page);
    else if (req.url === '/test-browser.js') send('text/javascript', readFileSync(bundle));
    else if (req.url === '/test-browser.js.map' && existsSync(bundle + '.map')) send('application/json', readFileSync(bundle + '.map'));
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return server;
}

/** Loads the page and runs every bundled test; rejects with what the page printed if Chromium fails. */
async function runInChromium(): Promise<BrowserTestReport> {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: install Debian's chromium (see .ci/install-system.sh) or set CHROMIUM_PATH`);
  }
  const server = await servePage();
  let browser: Browser | null = null;
  let timer: NodeJS.Timeout | undefined;
  const pageLog: string[] = [];
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, timeout: 60_000 });
    const page = await browser.newPage();
    page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`uncaught: ${e.message}`));
    // A crash rejects the pending evaluate ("Target crashed"); the log says what happened before it.
    page.on('crash', () => pageLog.push('the page crashed (out of memory, or the GPU process died)'));
    // An uncaught error before the bundle is ready means it cannot load: fail now rather than at the timeout.
    const loadFailed = new Promise<never>((_, fail) => page.once('pageerror', (e) => fail(new Error(`the bundle failed to load: ${e.message}`))));
    loadFailed.catch(() => {}); // raced below; later page errors only go to the log
    const timedOut = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no result after ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS);
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const run = (async () => {
      await Promise.race([page.waitForFunction(() => 'runWebtrainTests' in globalThis, undefined, { timeout: 30_000 }), loadFailed]);
      return page.evaluate(() => (globalThis as unknown as { runWebtrainTests(): Promise<BrowserTestReport> }).runWebtrainTests());
    })();
    return await Promise.race([run, timedOut]);
  } catch (e) {
    throw new Error(`Chromium test run failed: ${(e as Error).message}\npage log (last 40 lines):\n${pageLog.slice(-40).join('\n')}`);
  } finally {
    clearTimeout(timer);
    await browser?.close();
    server.close();
  }
}

/** Every file error and every case that did not pass, with its messages; empty when all passed. */
function describeFailures(report: BrowserTestReport): string {
  const indent = (errors: string[]) => errors.map((e) => '\n    ' + e.replace(/\n/g, '\n    ')).join('');
  return [
    ...report.fileErrors.map((f) => `  ${f.file}: the file failed outside any case${indent(f.errors)}`),
    ...report.cases.filter((c) => c.state !== 'pass').map((c) => `  ${c.file} > ${c.name}: ${c.state}${indent(c.errors)}`),
  ].join('\n');
}

test('the GPU tests pass in headless Chromium on the f32 path', async () => {
  const files = browserTestFiles();
  const report = await runInChromium();
  if ('error' in report.adapter) {
    throw new Error(`Chromium (${chromiumPath}) offered no WebGPU adapter: ${report.adapter.error}\n` +
      `flags: ${CHROMIUM_ARGS.join(' ')}`);
  }
  expect(report.files, 'the bundle is out of date: run npm run build').toEqual(files);
  // SwiftShader has no shader-f16, so the f16 variants were not generated and every kernel ran in f32.
  expect(report.adapter.f16, 'Chromium offered shader-f16: this run is meant to exercise the f32 path (SwiftShader)').toBe(false);

  const failures = describeFailures(report);
  if (failures) throw new Error(`browser tests failed (${report.adapter.vendor} ${report.adapter.architecture}):\n${failures}`);
  // Every collected case ran and passed: nothing skipped silently, and no file contributed nothing.
  expect(report.collected).toBeGreaterThan(0);
  expect(report.cases.length).toBe(report.collected);
  for (const f of files) expect(report.cases.some((c) => c.file === f), `${f} ran no case`).toBe(true);
  console.log(`Chromium (${report.adapter.vendor} ${report.adapter.architecture}, no shader-f16): ` +
    `${report.cases.length} cases from ${files.length} files passed in ${(report.ms / 1000).toFixed(1)} s`);
}, RUN_TIMEOUT_MS + 60_000);
