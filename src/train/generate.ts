// Text generation: the prompt fills the per-layer KV caches in one pass, then each new
// token costs one single-position forward pass over the cached keys and values.
import type { Gpu } from '../gpu/device.js';
import { Tape, type Var } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { InputError } from '../errors.js';
import type { Gpt } from '../models/gpt.js';
import type { KvCache } from '../nn/ops.js';
import type { Tokenizer } from '../text/tokenizer.js';
import { type SamplingOptions, checkSampling, sampleToken } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  seed?: number;
  /** Stop at this id (not included in the output). */
  stopId?: number;
  /** Only the first `vocab` logits are real tokens (the embedding may be padded). */
  vocab?: number;
  onToken?: (id: number) => void;
}

/**
 * Continues `prompt` (ids) and returns the new ids. Each token is predicted from the last
 * `blockSize` tokens, as a full forward pass over them would; the KV caches make that one
 * position per token until the window is full, after which the window is re-read each step.
 */
export async function generate(gpu: Gpu, model: Gpt, weights: Map<string, Var>, prompt: number[], o: GenerateOptions): Promise<number[]> {
  checkSampling(o);
  if (!(Number.isInteger(o.maxTokens) && o.maxTokens >= 0)) throw new InputError(`max tokens must be an integer >= 0, got ${o.maxTokens}`);
  if (!prompt.length) throw new InputError('the prompt is empty; give at least one token of text');
  const block = model.config.blockSize;
  const dtype = weights.get('wte')!.value.dtype;
  const rng = new Rng(o.seed ?? 0);
  const vocab = o.vocab ?? model.config.vocabSize;
  const seq = [...prompt];
  const out: number[] = [];
  let cache: KvCache[] | null = null;
  let next: number[] = [];
  try {
    for (let i = 0; i < o.maxTokens; i++) {
      if (!cache || cache[0].length + next.length > block) {
        cache?.forEach((c) => c.dispose());
        cache = model.newCache(seq.length + o.maxTokens - i, dtype);
        next = seq.slice(-block);
      }
      const tape = new Tape();
      tape.enabled = false;
      const ids = Tensor.from(gpu, next, [next.length], 'u32');
      const logits = model.forward(tape, weights, ids, 1, next.length, undefined, { cache });
      const last = logits.value.slice(0, next.length - 1, next.length);
      const row = await last.toArray();
      last.dispose();
      ids.dispose();
      tape.dispose();
      const id = sampleToken(row, vocab, o, seq, rng);
      if (id === o.stopId) break;
      out.push(id);
      seq.push(id);
      o.onToken?.(id);
      next = [id];
    }
  } finally {
    cache?.forEach((c) => c.dispose());
  }
  return out;
}

/** Generates a continuation of `prompt` text and returns it as text. */
export async function sampleText(gpu: Gpu, model: Gpt, weights: Map<string, Var>, tokenizer: Tokenizer, prompt: string,
  o: GenerateOptions): Promise<string> {
  const ids = await generate(gpu, model, weights, Array.from(tokenizer.encode(prompt)), {
    vocab: tokenizer.vocabSize, stopId: tokenizer.eosId, ...o,
  });
  return tokenizer.decode(ids);
}
