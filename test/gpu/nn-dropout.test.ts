import { testGpu, randn } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { dropout, dropoutBackward } from '../../src/nn/functional/dropout.js';
import { InputError, ShapeError } from '../../src/errors.js';
import { floatDtypes, held } from './nn-gradcheck.js';

const gpu = await testGpu();

/** Philox-4x32-10 with exact 64-bit products (BigInt): an independent reference for the WGSL one. */
function philox(counter: number[], key: number[]): number[] {
  let c = counter.map(BigInt), k = key.map(BigInt);
  const mask = 0xffffffffn;
  for (let r = 0; r < 10; r++) {
    if (r) k = [(k[0] + 0x9e3779b9n) & mask, (k[1] + 0xbb67ae85n) & mask];
    const p0 = 0xd2511f53n * c[0], p1 = 0xcd9e8d57n * c[2];
    c = [(p1 >> 32n) ^ c[1] ^ k[0], p1 & mask, (p0 >> 32n) ^ c[3] ^ k[1], p0 & mask];
  }
  return c.map(Number);
}

/** The keep mask the kernel is specified to draw: word i % 4 of Philox((i/4, 0, offset), seed) >= p 2^32. */
function keepMask(n: number, p: number, seed: number, offset: number): boolean[] {
  const split = (v: number) => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
  const threshold = Math.round(p * 2 ** 32);
  const out: boolean[] = [];
  for (let g = 0; 4 * g < n; g++) {
    const bits = philox([g, 0, ...split(offset)], split(seed));
    for (let j = 0; j < 4 && 4 * g + j < n; j++) out.push(bits[j] >= threshold);
  }
  return out;
}

test('the Philox reference reproduces the Random123 known-answer vectors', () => {
  const hex = (ws: number[]) => ws.map((w) => w.toString(16).padStart(8, '0')).join(' ');
  expect(hex(philox([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  expect(hex(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
  expect(hex(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
});

for (const dtype of floatDtypes(gpu.caps.f16)) {
  test(`dropout draws exactly the Philox mask, keeps ~1-p, scales by 1/(1-p), and backward reuses the mask (${dtype})`, async () => {
    const n = 4099, p = 0.3, rng = { seed: 2 ** 40 + 12345, offset: 2 ** 33 + 7 };
    const x = held(randn(n, 3).map((v) => v + 2), dtype);   // no zeros, so a zero output means "dropped"
    const dy = held(randn(n, 4), dtype);
    const tx = Tensor.from(gpu, x, [n], dtype), tdy = Tensor.from(gpu, dy, [n], dtype);
    const ty = dropout(tx, p, rng), tdx = dropoutBackward(tdy, p, rng);
    const y = await ty.toArray(), dx = await tdx.toArray();
    const keep = keepMask(n, p, rng.seed, rng.offset);
    const scale = 1 / (1 - p);
    const round = (v: number) => held([v], dtype)[0];
    expect(Array.from(y)).toEqual(keep.map((k, i) => (k ? round(Math.fround(x[i] * Math.fround(scale))) : 0)));
    expect(Array.from(dx)).toEqual(keep.map((k, i) => (k ? round(Math.fround(dy[i] * Math.fround(scale))) : 0)));
    const kept = keep.filter(Boolean).length / n;
    // Binomial standard deviation at n = 4099 is 0.007; allow 4 of them.
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.03);
    [tx, tdy, ty, tdx].forEach((t) => t.dispose());
  });
}

test('the same seed and offset give the same mask; another offset or seed gives another', async () => {
  const n = 1000;
  const tx = Tensor.from(gpu, new Float64Array(n).fill(1), [10, 100]);
  const draw = async (seed: number, offset: number) => {
    const y = dropout(tx, 0.5, { seed, offset });
    try { return Array.from(await y.toArray()); } finally { y.dispose(); }
  };
  const a = await draw(1, 0);
  expect(await draw(1, 0)).toEqual(a);
  const differing = (b: number[]) => b.filter((v, i) => v !== a[i]).length;
  expect(differing(await draw(1, 1))).toBeGreaterThan(n / 4);
  expect(differing(await draw(2, 0))).toBeGreaterThan(n / 4);
  tx.dispose();
});

test('p = 0 is the identity; bad probabilities, seeds and dtypes are rejected', async () => {
  const tx = Tensor.from(gpu, [1, 2, 3], [3]);
  const y = dropout(tx, 0, { seed: 1, offset: 0 });
  expect(Array.from(await y.toArray())).toEqual([1, 2, 3]);
  y.dispose();
  expect(() => dropout(tx, 1, { seed: 1, offset: 0 })).toThrow(InputError);
  expect(() => dropout(tx, -0.1, { seed: 1, offset: 0 })).toThrow(/\[0, 1\)/);
  expect(() => dropout(tx, 0.1, { seed: 1.5, offset: 0 })).toThrow(/seed must be an integer/);
  expect(() => dropoutBackward(tx, 0.1, { seed: 1, offset: -1 })).toThrow(/offset/);
  const u = Tensor.zeros(gpu, [3], 'u32');
  expect(() => dropout(u, 0.1, { seed: 1, offset: 0 })).toThrow(ShapeError);
  [tx, u].forEach((t) => t.dispose());
});
