// The host the GPU tests run on: this is the Node version. The browser test bundle swaps in
// test/browser/host.ts (scripts/browser-tests.mjs), which keeps Node imports out of the page.
import { useNodePlatform } from '../../src/platform/node.js';

/** False under vitest in Node; true in the Chromium test page. */
export const isBrowser = false;

export function useTestPlatform(): void {
  useNodePlatform();
}
