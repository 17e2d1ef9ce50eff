// Runs the GPU tests again inside headless Chromium, from the browser bundle dist/test-browser.js,
// where WebGPU is SwiftShader without shader-f16, so the f32 path of every kernel is the one exercised.
// One vitest case per test file, so a slow or failing file does not hide the others.
//
// Adding a browser case: write an ordinary vitest file (globals `test`/`expect`/`describe`, and
// `const gpu = await testGpu()` from test/helpers/gpu.ts), then
//   - put it in test/gpu/NAME.test.ts to run it in Node AND in Chromium, or
//   - put it in test/browser/cases/NAME.ts to run it only in Chromium (e.g. training `tiny` in the page;
//     test/browser/cases/platform.ts is an example).
// The next build picks it up (scripts/browser-tests.mjs); nothing else to register. `npm test` builds
// first; when running vitest directly, run `npm run build` after changing code, or the page runs the old bundle.
// SwiftShader is slow: in heavy files use `isBrowser` from test/helpers/gpu.ts to shrink sizes in the
// page rather than skipping anything. One file only: npx vitest run test/browser.test.ts -t attention
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { browserTestFiles } from '../scripts/browser-tests.mjs';
import { PROGRESS, type AdapterReport, type CaseReport, type FileReport, type Progress, type TestPage } from './browser/report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist/test-browser.js');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// PLATFORM.md's tested flags; playwright adds --headless and a fresh profile directory.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// Per test file (each case also has the page's 120 s case timeout, as in vitest.config.ts).
// SwiftShader compiles every kernel variant on its first dispatch (seconds each on 2 busy cores)
// and runs it on the CPU, so heavy files should use fewer variants and sizes in the page (isBrowser).
const FILE_TIMEOUT_MS = 180_000;

type PageApi = { webtrainTests: TestPage };

/** Serves the test page and the bundle on 127.0.0.1 (a secure context, so navigator.gpu exists). */
async function servePage(): Promise<Server> {
  const html = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>webtrain browser tests</title>' +
    '<script type="module" src="/test-browser.js"></script>';
  const server = createServer((req, res) => {
    const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type }).end(body);
    if (req.url === '/') send('text/html', html);
    else if (req.url === '/test-browser.js') send('text/javascript', readFileSync(bundle));
    else if (req.url === '/test-browser.js.map' && existsSync(bundle + '.map')) send('application/json', readFileSync(bundle + '.map'));
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return server;
}

/** Chromium with the test page loaded; keeps the page's log and the progress of the file being run. */
class ChromiumTestPage {
  private page: Page | null = null;
  private log: string[] = [];
  private finished: CaseReport[] = [];
  private running: string | null = null;
  /** Uncaught errors and unhandled rejections while a file runs: they fail it, as vitest does in Node. */
  private uncaught: string[] = [];

  private constructor(private server: Server, private browser: Browser) {}

  static async open(): Promise<ChromiumTestPage> {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build`);
    if (!existsSync(chromiumPath)) {
      throw new Error(`no Chromium at ${chromiumPath}: install Debian's chromium (see .ci/install-system.sh) or set CHROMIUM_PATH`);
    }
    const server = await servePage();
    let browser: Browser;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, timeout: 60_000 });
    } catch (e) {
      server.close();
      throw new Error(`Chromium (${chromiumPath}) did not start: ${(e as Error).message}`);
    }
    const session = new ChromiumTestPage(server, browser);
    await session.load();
    return session;
  }

  /** Opens a fresh page (also after a crash or a timeout, so later files run on a clean page). */
  private async load(): Promise<void> {
    await this.page?.close().catch(() => {});
    const page = (this.page = await this.browser.newPage());
    page.on('console', (m) => {
      const text = m.text();
      if (!text.startsWith(PROGRESS)) return void this.log.push(`${m.type()}: ${text}`);
      const p = JSON.parse(text.slice(PROGRESS.length)) as Progress;
      if ('started' in p) this.running = p.started;
      else this.finished.push(p.finished);
    });
    page.on('pageerror', (e) => {
      this.log.push(`uncaught: ${e.message}`);
      this.uncaught.push(e.stack ?? e.message);
    });
    page.on('crash', () => this.log.push('the page crashed (out of memory, or the GPU process died)'));
    // An uncaught error before the bundle is ready means it cannot load: fail now rather than at the timeout.
    const loadFailed = new Promise<never>((_, fail) => page.once('pageerror', (e) => fail(new Error(`the test bundle failed to load: ${e.message}`))));
    loadFailed.catch(() => {}); // raced below; later page errors only go to the log
    try {
      await page.goto(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`);
      await Promise.race([page.waitForFunction(() => 'webtrainTests' in globalThis, undefined, { timeout: 30_000 }), loadFailed]);
    } catch (e) {
      throw new Error(`the Chromium test page did not load: ${(e as Error).message}${this.logTail()}`);
    }
  }

  private logTail(): string {
    return this.log.length ? `\npage log (last 30 lines):\n${this.log.slice(-30).join('\n')}` : '';
  }

  files(): Promise<string[]> {
    return this.page!.evaluate(() => (globalThis as unknown as PageApi).webtrainTests.files);
  }

  adapter(): Promise<AdapterReport> {
    return this.page!.evaluate(() => (globalThis as unknown as PageApi).webtrainTests.adapter());
  }

  /** Runs one test file in the page; on a timeout or crash, says how far it got and reloads the page. */
  async runFile(file: string): Promise<FileReport> {
    this.log = [];
    this.finished = [];
    this.running = null;
    this.uncaught = [];
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`did not finish within ${FILE_TIMEOUT_MS / 1000} s`)), FILE_TIMEOUT_MS);
    });
    try {
      const run = this.page!.evaluate((f) => (globalThis as unknown as PageApi).webtrainTests.runFile(f), file);
      const report = await Promise.race([run, timedOut]);
      return { ...report, errors: [...report.errors, ...this.uncaught.map((e) => `uncaught in the page: ${e}`)] };
    } catch (e) {
      const failed = this.finished.filter((c) => c.state !== 'pass');
      const message = `${file} in Chromium: ${(e as Error).message}. ${this.finished.length} cases finished` +
        (this.running ? `; running: ${this.running}` : '') + (failed.length ? `; failures so far:\n${describeCases(failed)}` : '') +
        this.logTail();
      const reload = await this.load().then(() => '', (r: Error) => `\n(reloading the page failed too: ${r.message})`);
      throw new Error(message + reload);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
    this.server.close();
  }
}

function describeCases(cases: CaseReport[]): string {
  const indent = (errors: string[]) => errors.map((e) => '\n    ' + e.replace(/\n/g, '\n    ')).join('');
  return cases.map((c) => `  ${c.name}: ${c.state}${indent(c.errors)}`).join('\n');
}

const files = browserTestFiles();
let session: ChromiumTestPage | null = null;

describe('GPU tests in headless Chromium (browser bundle, SwiftShader)', () => {
  beforeAll(async () => {
    session = await ChromiumTestPage.open();
    const bundled = await session.files();
    if (bundled.join('\n') !== files.join('\n')) {
      throw new Error(`dist/test-browser.js is out of date: run npm run build (it holds ${bundled.join(', ')}; ` +
        `the test folders hold ${files.join(', ')})`);
    }
    const adapter = await session.adapter();
    if ('error' in adapter) {
      throw new Error(`Chromium (${chromiumPath}) offered no WebGPU adapter: ${adapter.error}\nflags: ${CHROMIUM_ARGS.join(' ')}`);
    }
  }, 120_000);

  afterAll(() => session?.close());

  test('the adapter has no shader-f16, so the f32 path of every kernel is the one tested', async () => {
    const adapter = await session!.adapter();
    expect(adapter).toMatchObject({ f16: false });
    if ('error' in adapter) return;
    const subgroups = adapter.subgroupSizes ? `subgroup size ${adapter.subgroupSizes.join('-')}` : 'no subgroups';
    console.log(`Chromium adapter: ${adapter.vendor} ${adapter.architecture}, shader-f16: ${adapter.f16}, ${subgroups}`);
  });

  for (const file of files) {
    test(file, async () => {
      const report = await session!.runFile(file);
      const failed = report.cases.filter((c) => c.state !== 'pass');
      if (report.errors.length || failed.length) {
        throw new Error(`${file} failed in Chromium:\n` +
          (report.errors.length ? `  outside any case:\n    ${report.errors.join('\n').replace(/\n/g, '\n    ')}\n` : '') +
          describeCases(failed));
      }
      // Every collected case ran and passed: nothing skipped silently, and the file contributed cases.
      expect(report.collected, `${file} defines no test`).toBeGreaterThan(0);
      expect(report.cases.length).toBe(report.collected);
      const slowest = [...report.cases].sort((a, b) => b.ms - a.ms)[0];
      const n = report.cases.length;
      console.log(`${file}: ${n} case${n === 1 ? '' : 's'} passed in Chromium in ${(report.ms / 1000).toFixed(1)} s ` +
        `(slowest ${(slowest.ms / 1000).toFixed(1)} s: ${slowest.name})`);
    }, FILE_TIMEOUT_MS + 60_000);
  }
});
