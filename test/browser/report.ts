// What the Chromium test page hands back to test/browser.test.ts (plain JSON).

/** The adapter the page's tests run on, or why none could be opened. */
export type AdapterReport =
  | { vendor: string; architecture: string; description: string; f16: boolean; subgroupSizes: [number, number] | null }
  | { error: string };

export interface CaseReport {
  /** The case's full name, suites joined by ' > '. */
  name: string;
  /** 'pass' | 'fail' once run; 'skip' / 'todo' / 'run' mean it never finished. */
  state: string;
  ms: number;
  /** Error messages (with diffs) when the case failed. */
  errors: string[];
}

export interface FileReport {
  file: string;
  /** Errors outside any case: the file failed to import, or a beforeAll/afterAll hook failed. */
  errors: string[];
  /** Number of cases the runner collected from the file before running any. */
  collected: number;
  cases: CaseReport[];
  ms: number;
}

/** What the page exposes as `globalThis.webtrainTests`. */
export interface TestPage {
  /** Repository-relative paths of the bundled test files. */
  files: string[];
  adapter(): Promise<AdapterReport>;
  runFile(file: string): Promise<FileReport>;
}

/** Prefix of the console lines that report progress while a file runs (JSON after it). */
export const PROGRESS = '[webtrain-test] ';
export type Progress = { started: string } | { finished: CaseReport };
