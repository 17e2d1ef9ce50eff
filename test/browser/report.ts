// What the Chromium test page hands back to test/browser.test.ts (plain JSON).

export interface BrowserCaseResult {
  /** File (repository-relative) and the case's full name, suites joined by ' > '. */
  file: string;
  name: string;
  /** 'pass' | 'fail' once run; 'skip' / 'todo' / 'run' mean it never finished. */
  state: string;
  ms: number;
  /** Error messages (with diffs) when the case failed. */
  errors: string[];
}

export interface BrowserTestReport {
  /** The adapter the page's tests ran on, or why none could be opened. */
  adapter: { vendor: string; architecture: string; description: string; f16: boolean } | { error: string };
  /** Test files bundled into the page. */
  files: string[];
  /** Errors outside any case: a file that failed to import, a failing beforeAll/afterAll. */
  fileErrors: { file: string; errors: string[] }[];
  /** Number of test cases the runner collected before running any. */
  collected: number;
  cases: BrowserCaseResult[];
  ms: number;
}
