// Browser test bundle entry (built into dist/test-browser.js); see test/browser.test.ts.
export {};
