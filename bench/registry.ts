// Every benchmark, by name. Each module exports `run(args)` and prints its figures
// (JSON lines where a contract asks for them). Add a line here for a new benchmark.
export type BenchRun = (args: string[]) => Promise<void>;

export const benches: Record<string, () => Promise<{ run: BenchRun }>> = {
  gemm: () => import('./gemm.js'),
  train: () => import('./train.js'),
  attention: () => import('./attention.js'),
  ngram: () => import('./ngram.js'),
  text: () => import('./text.js'),
  prepare: () => import('./prepare.js'),
};
