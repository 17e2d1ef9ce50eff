// Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus) and
// a repetition penalty (CTRL's: divide positive logits of seen tokens, multiply negative ones).
import { Rng } from '../tensor/random.js';
import { InputError } from '../errors.js';

export interface SamplingOptions {
  /** 0 means greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
}

export function checkSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0)) throw new InputError(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new InputError(`top-k must be an integer >= 0, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new InputError(`top-p must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) throw new InputError(`repetition penalty must be > 0, got ${o.repetitionPenalty}`);
}

/** The next token id from `logits` (of which the first `vocab` are real tokens). */
export function sampleToken(logits: ArrayLike<number>, vocab: number, o: SamplingOptions, seen: Iterable<number>, rng: Rng): number {
  const l = Float64Array.from({ length: vocab }, (_, i) => logits[i]);
  const penalty = o.repetitionPenalty ?? 1;
  if (penalty !== 1) for (const id of new Set(seen)) if (id < vocab) l[id] = l[id] > 0 ? l[id] / penalty : l[id] * penalty;
  const temperature = o.temperature ?? 1;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (l[i] > l[best]) best = i;
    return best;
  }
  let order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
  if (o.topK && o.topK < vocab) order = order.slice(0, o.topK);
  const maxLogit = l[order[0]];
  let probs = order.map((i) => Math.exp((l[i] - maxLogit) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length && cum < o.topP * total) cum += probs[keep++];
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * total;
  for (let i = 0; i < order.length; i++) {
    r -= probs[i];
    if (r < 0) return order[i];
  }
  return order[order.length - 1];
}
