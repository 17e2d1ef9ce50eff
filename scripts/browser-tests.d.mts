// Types for scripts/browser-tests.mjs (used by test/browser.test.ts).
import type { Plugin } from 'esbuild';

/** Repository-relative paths of the test files bundled into the browser test page, sorted. */
export function browserTestFiles(): string[];
export function browserTestsPlugin(): Plugin;
