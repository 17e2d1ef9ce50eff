// Types for scripts/browser-tests.mjs (used by test/browser.test.ts).
import type { Plugin } from 'esbuild';

interface TestDir { dir: string; pattern: RegExp }

/** Repository-relative paths of the test files bundled into the browser test page (or of `dirs`), sorted. */
export function browserTestFiles(dirs?: TestDir[]): string[];
export function browserTestsPlugin(opts?: { host?: 'browser' | 'node' }): Plugin;
