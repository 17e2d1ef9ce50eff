// Training batches: windows of T+1 tokens drawn from a token stream, inputs are the first
// T and targets the last T. Positions come from a seeded stream per (step, micro-batch), so
// a resumed run sees exactly the batches an uninterrupted one would.
import { Rng, mixSeed } from '../tensor/random.js';
import { InputError } from '../errors.js';

export type TokenArray = Uint16Array | Uint32Array;

export interface TokenSplits {
  train: TokenArray;
  val: TokenArray;
  vocabSize: number;
  eosId: number | null;
}

export interface Batch {
  inputs: Uint32Array;
  targets: Uint32Array;
}

export function checkSplits(s: TokenSplits, T: number): void {
  for (const [name, arr] of [['train', s.train], ['val', s.val]] as const) {
    if (arr.length < T + 1) {
      throw new InputError(`the ${name} split has ${arr.length} tokens, fewer than one window of seqLen+1 = ${T + 1}; ` +
        'use more data or a shorter --seq-len');
    }
  }
}

/** B random windows from `tokens`, reproducible from (seed, stream). */
export function randomBatch(tokens: TokenArray, B: number, T: number, seed: number, stream: number): Batch {
  const rng = new Rng(mixSeed(seed, stream));
  const inputs = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = rng.int(tokens.length - T);
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = tokens[start + t];
      targets[b * T + t] = tokens[start + t + 1];
    }
  }
  return { inputs, targets };
}

/** The i-th of the evenly spaced, fixed validation batches (the same at every evaluation). */
export function evalBatch(tokens: TokenArray, B: number, T: number, i: number, count: number): Batch {
  const windows = Math.floor((tokens.length - 1) / T);
  const inputs = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    const w = Math.floor(((i * B + b) * windows) / (count * B)) % windows;
    const start = w * T;
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = tokens[start + t];
      targets[b * T + t] = tokens[start + t + 1];
    }
  }
  return { inputs, targets };
}
