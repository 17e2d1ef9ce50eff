// The generated list of browser test files (scripts/browser-tests.mjs).
declare module 'virtual:browser-test-files' {
  /** Repository-relative path -> lazy import of that test file. */
  export const testFiles: Record<string, () => Promise<unknown>>;
}
