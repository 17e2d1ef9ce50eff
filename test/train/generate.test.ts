// Generation: the KV-cache path computes the same logits as a full forward pass over the whole
// sequence, so generating with the cache picks the same tokens as re-running the model on the last
// blockSize tokens at every step (nanoGPT's loop), for greedy and for sampling with every option.
import { testGpu, maxRelErr } from '../helpers/gpu.js';
import { Gpt, gptParamSpecs } from '../../src/models/gpt.js';
import type { GptConfig } from '../../src/models/config.js';
import { Tape, Var } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/random.js';
import { InputError } from '../../src/errors.js';
import { generate, type GenerateOptions } from '../../src/train/generate.js';
import { sampleToken, type SamplingOptions } from '../../src/train/sampling.js';

const gpu = await testGpu();
const config: GptConfig = { vocabSize: 64, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0 };
const model = new Gpt(gpu, config);
// Weights far larger than GPT-2's initialisation, so the logits differ clearly between tokens
// and greedy choices are not decided by rounding.
const rng = new Rng(21);
const weights = new Map<string, Var>();
for (const s of gptParamSpecs(config)) {
  const n = s.shape.reduce((a, b) => a * b, 1);
  const values = s.init.kind === 'normal' ? rng.normal(n, 0.5) : s.init.kind === 'ones' ? rng.normal(n, 0.2).map((x) => 1 + x) : rng.normal(n, 0.1);
  weights.set(s.name, new Var(Tensor.from(gpu, values, s.shape), false, s.name));
}
const V = config.vocabSize;

/** Logits [T, V] of a full forward pass over `ids`, without any cache. */
async function fullLogits(ids: number[]): Promise<Float32Array> {
  const tape = new Tape();
  tape.enabled = false;
  const t = Tensor.from(gpu, ids, [ids.length], 'u32');
  const logits = model.forward(tape, weights, t, 1, ids.length);
  const out = Float32Array.from(await logits.value.toArray());
  tape.dispose();
  t.dispose();
  return out;
}

/** nanoGPT's generation loop: the whole model over the last blockSize tokens for every new token. */
async function referenceGenerate(prompt: number[], n: number, o: SamplingOptions & { seed?: number; stopId?: number }): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  const sampler = new Rng(o.seed ?? 0);
  for (let i = 0; i < n; i++) {
    const window = seq.slice(-config.blockSize);
    const logits = await fullLogits(window);
    const id = sampleToken(logits.subarray((window.length - 1) * V), V, o, seq, sampler);
    if (id === o.stopId) break;
    out.push(id);
    seq.push(id);
  }
  return out;
}

const prompt = [3, 17, 42, 8, 5];

test('logits through the KV cache equal the full forward pass at every position', async () => {
  const cache = model.newCache(config.blockSize, 'f32');
  const seq = [...prompt];
  const tape = new Tape();
  tape.enabled = false;
  // The prompt in one pass (all its rows), then one position at a time up to the block size.
  let next = [...prompt];
  while (true) {
    const ids = Tensor.from(gpu, next, [next.length], 'u32');
    const got = await model.forward(tape, weights, ids, 1, next.length, undefined, { cache }).value.toArray();
    ids.dispose();
    const want = (await fullLogits(seq)).subarray((seq.length - next.length) * V);
    expect(maxRelErr(got, want, 1e-2), `positions ${seq.length - next.length}..${seq.length - 1}`).toBeLessThan(1e-4);
    expect(cache[0].length).toBe(seq.length);
    if (seq.length === config.blockSize) break;
    next = [(seq.length * 7) % V];
    seq.push(next[0]);
  }
  tape.dispose();
  // A full cache refuses more positions with a clear error.
  const extra = Tensor.from(gpu, [1], [1], 'u32');
  expect(() => model.forward(tape, weights, extra, 1, 1, undefined, { cache })).toThrow(/exceeds the model's block size 12/);
  extra.dispose();
  cache.forEach((c) => c.dispose());
}, 300_000); // the first forward pass compiles the kernels: slow with a cold shader cache

test('greedy generation with the cache equals greedy re-running the full forward, past the block size', async () => {
  const want = await referenceGenerate(prompt, 16, { temperature: 0 });
  const got = await generate(gpu, model, weights, prompt, { maxTokens: 16, temperature: 0 });
  expect(got).toHaveLength(16);
  expect(got).toEqual(want);
  // Not a degenerate model that repeats one token.
  expect(new Set(got).size).toBeGreaterThan(3);
});

test('a prompt longer than the block size is cut to its last blockSize tokens', async () => {
  const long = Array.from({ length: config.blockSize + 7 }, (_, i) => (i * 13 + 5) % V);
  const got = await generate(gpu, model, weights, long, { maxTokens: 4, temperature: 0 });
  expect(got).toEqual(await referenceGenerate(long, 4, { temperature: 0 }));
  expect(got).toEqual(await generate(gpu, model, weights, long.slice(-config.blockSize), { maxTokens: 4, temperature: 0 }));
});

test('temperature, top-k, top-p, repetition penalty and seed flow through to the sampler', async () => {
  const options = { temperature: 1.5, topK: 20, topP: 0.9, repetitionPenalty: 1.3, seed: 7 };
  const got = await generate(gpu, model, weights, prompt, { maxTokens: 8, ...options });
  expect(got).toEqual(await referenceGenerate(prompt, 8, options));
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 8, ...options })).toEqual(got);
  const greedy = await generate(gpu, model, weights, prompt, { maxTokens: 8, temperature: 0 });
  // Sampling is not greedy, and each option changes the outcome (on this model and seed).
  expect(got).not.toEqual(greedy);
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 8, ...options, seed: 8 })).not.toEqual(got);
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 8, ...options, topK: 0, topP: 1 })).not.toEqual(got);
  // top-k 1 and a tiny top-p leave only the most likely token, whatever the temperature.
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 8, temperature: 5, topK: 1, seed: 3 })).toEqual(greedy);
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 8, temperature: 5, topP: 1e-6, seed: 3 })).toEqual(greedy);
});

test('generation stops at the stop id, reports tokens as they come, and checks its options', async () => {
  const greedy = await generate(gpu, model, weights, prompt, { maxTokens: 10, temperature: 0 });
  const stopAt = 4;
  const stopId = greedy[stopAt];
  const seen: number[] = [];
  const got = await generate(gpu, model, weights, prompt, { maxTokens: 10, temperature: 0, stopId, onToken: (id) => seen.push(id) });
  expect(got).toEqual(greedy.slice(0, greedy.indexOf(stopId)));
  expect(seen).toEqual(got);
  expect(await generate(gpu, model, weights, prompt, { maxTokens: 0 })).toEqual([]);
  // Only the first `vocab` logits are real tokens.
  const limited = await generate(gpu, model, weights, prompt, { maxTokens: 10, temperature: 1, vocab: 5, seed: 1 });
  expect(limited.every((id) => id < 5)).toBe(true);

  const bad: [GenerateOptions, RegExp][] = [
    [{ maxTokens: -1 }, /max tokens must be an integer >= 0, got -1/],
    [{ maxTokens: 2.5 }, /max tokens/],
    [{ maxTokens: 1, temperature: -1 }, /temperature must be >= 0, got -1/],
    [{ maxTokens: 1, temperature: NaN }, /temperature/],
    [{ maxTokens: 1, topK: 1.5 }, /top-k must be an integer >= 0, got 1.5/],
    [{ maxTokens: 1, topP: 0 }, /top-p must be in \(0, 1\], got 0/],
    [{ maxTokens: 1, topP: 1.1 }, /top-p/],
    [{ maxTokens: 1, repetitionPenalty: 0 }, /repetition penalty must be > 0, got 0/],
  ];
  for (const [o, what] of bad) {
    await expect(generate(gpu, model, weights, prompt, o)).rejects.toThrow(InputError);
    await expect(generate(gpu, model, weights, prompt, o)).rejects.toThrow(what);
  }
  await expect(generate(gpu, model, weights, [], { maxTokens: 1 })).rejects.toThrow(/the prompt is empty/);
});

describe('sampleToken', () => {
  const logits = [0, Math.log(2), Math.log(4), -1e9];
  function frequencies(o: SamplingOptions, draws = 20000, seen: number[] = []): number[] {
    const rng = new Rng(99);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < draws; i++) counts[sampleToken(logits, 4, o, seen, rng)]++;
    return counts.map((c) => c / draws);
  }
  const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(Math.abs(g - want[i]), `token ${i}: ${got}`).toBeLessThan(0.015));

  test('temperature 1 samples the softmax; lower temperatures sharpen it; 0 is greedy', () => {
    close(frequencies({}), [1 / 7, 2 / 7, 4 / 7, 0]);
    close(frequencies({ temperature: 0.5 }), [1 / 21, 4 / 21, 16 / 21, 0]);
    close(frequencies({ temperature: 0 }, 100), [0, 0, 1, 0]);
  });

  test('top-k keeps the k most likely tokens; top-p the smallest set holding p of the mass', () => {
    close(frequencies({ topK: 2 }), [0, 1 / 3, 2 / 3, 0]);
    close(frequencies({ topP: 0.5 }), [0, 0, 1, 0]);
    close(frequencies({ topP: 0.8 }), [0, 1 / 3, 2 / 3, 0]);
    close(frequencies({ topK: 0, topP: 1 }), [1 / 7, 2 / 7, 4 / 7, 0]);
  });

  test('the repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const rng = new Rng(1);
    expect(sampleToken([2, 1.9], 2, { temperature: 0 }, [], rng)).toBe(0);
    expect(sampleToken([2, 1.9], 2, { temperature: 0, repetitionPenalty: 2 }, [0], rng)).toBe(1);
    expect(sampleToken([-1, -1.5], 2, { temperature: 0, repetitionPenalty: 2 }, [0], rng)).toBe(1);
    expect(sampleToken([-1, -1.5], 2, { temperature: 0, repetitionPenalty: 1 }, [0], rng)).toBe(0);
  });

  test('logits past `vocab` (embedding padding) are never chosen', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 200; i++) expect(sampleToken([0, 0, 0, 50], 3, {}, [], rng)).toBeLessThan(3);
  });
});
