// GPT model shapes and the presets the CLI offers.
import { InputError } from '../errors.js';

export interface GptConfig {
  /** Vocabulary rows in the embedding (padded up for fast GEMMs; the tokenizer may use fewer). */
  vocabSize: number;
  /** Longest sequence (learned positions). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  dropout: number;
}

export const MODEL_PRESETS: Record<string, Omit<GptConfig, 'vocabSize'>> = {
  tiny: { blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0 },
  small: { blockSize: 256, nLayer: 4, nHead: 4, nEmbd: 256, dropout: 0 },
  'gpt2-124m': { blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0 },
};

/** Rounds a vocabulary up to a multiple of 64 (GPT-2's 50257 -> 50304), as GEMM tiles prefer. */
export function padVocab(n: number): number {
  return Math.ceil(n / 64) * 64;
}

export function checkGptConfig(c: GptConfig): void {
  const int = (k: keyof GptConfig, min: number) => {
    if (!Number.isInteger(c[k]) || (c[k] as number) < min) throw new InputError(`model.${k} must be an integer >= ${min}, got ${c[k]}`);
  };
  int('vocabSize', 2); int('blockSize', 1); int('nLayer', 1); int('nHead', 1); int('nEmbd', 1);
  if (c.nEmbd % c.nHead) throw new InputError(`model.nEmbd (${c.nEmbd}) must be divisible by model.nHead (${c.nHead})`);
  if (c.nEmbd / c.nHead > 128) throw new InputError(`head size nEmbd/nHead = ${c.nEmbd / c.nHead} exceeds 128, the attention kernel's limit`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new InputError(`model.dropout must be in [0, 1), got ${c.dropout}`);
}

/** Parameters, excluding position embeddings' share in FLOP counts as nanoGPT does. */
export function parameterCount(c: GptConfig): number {
  const C = c.nEmbd;
  const block = 2 * 2 * C + C * 3 * C + 3 * C + C * C + C + C * 4 * C + 4 * C + 4 * C * C + C;
  return c.vocabSize * C + c.blockSize * C + c.nLayer * block + 2 * C;
}

/** Model FLOPs per token for a training step (forward + backward), PaLM's 6N + 12 L T C. */
export function flopsPerToken(c: GptConfig, seqLen: number): number {
  const n = parameterCount(c) - c.blockSize * c.nEmbd;
  return 6 * n + 12 * c.nLayer * seqLen * c.nEmbd;
}
