import { sampleToken } from '../src/train/sampling.js';
import { Rng } from '../src/tensor/random.js';

const logits = [2.0, 1.0, 0.5, -1.0, 3.0];

function frequencies(o: Parameters<typeof sampleToken>[2], n = 20000, seen: number[] = []): number[] {
  const rng = new Rng(7);
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, logits.length, o, seen, rng)]++;
  return counts.map((c) => c / n);
}

const softmax = (xs: number[], t = 1) => {
  const e = xs.map((x) => Math.exp(x / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

test('greedy picks the largest logit', () => {
  expect(sampleToken(logits, 5, { temperature: 0 }, [], new Rng(1))).toBe(4);
});

test('temperature sampling follows softmax(logits / T)', () => {
  for (const t of [1, 0.5]) {
    const f = frequencies({ temperature: t });
    softmax(logits, t).forEach((p, i) => expect(Math.abs(f[i] - p)).toBeLessThan(0.015));
  }
});

test('top-k keeps only the k most likely tokens, renormalised', () => {
  const f = frequencies({ topK: 2 });
  const p = softmax([3.0, 2.0]);
  expect(f[4]).toBeCloseTo(p[0], 1);
  expect(f[0]).toBeCloseTo(p[1], 1);
  expect(f[1] + f[2] + f[3]).toBe(0);
});

test('top-p keeps the smallest set whose mass reaches p', () => {
  const p = softmax(logits); // sorted: 4 (0.61), 0 (0.22), 1 (0.08) ...
  const f = frequencies({ topP: 0.7 });
  expect(f[1] + f[2] + f[3]).toBe(0);
  expect(Math.abs(f[4] - p[4] / (p[4] + p[0]))).toBeLessThan(0.015);
});

test('repetition penalty lowers seen tokens', () => {
  expect(sampleToken(logits, 5, { temperature: 0, repetitionPenalty: 2 }, [4], new Rng(1))).toBe(0);
  const f = frequencies({ repetitionPenalty: 1.5 }, 20000, [4]);
  const p = softmax([2.0, 1.0, 0.5, -1.0, 2.0]);
  expect(Math.abs(f[4] - p[4])).toBeLessThan(0.015);
});
