// Browser version of test/helpers/host.ts, swapped in by scripts/browser-tests.mjs; same exports.
import { useBrowserPlatform } from '../../src/platform/browser.js';

/** True in the Chromium test page (SwiftShader, a slow CPU rasteriser): heavy tests may shrink sizes here. */
export const isBrowser = true;

export function useTestPlatform(): void {
  useBrowserPlatform();
}
