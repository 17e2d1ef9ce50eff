import { testGpu, randn, maxRelErr } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { add, mul, sub, div, unary, cast, contiguous, copyInto, reduce, binary } from '../../src/tensor/ops.js';
import { ShapeError } from '../../src/errors.js';
import { fromBf16Bits, toBf16Bits, toF16Bits, fromF16Bits } from '../../src/tensor/dtype.js';

const gpu = await testGpu();
// bf16 tensors run through f32 temporaries (viaF32); their results are rounded to bf16.
const dtypes = gpu.caps.f16 ? (['f32', 'f16', 'bf16'] as const) : (['f32', 'bf16'] as const);
const tol = { f32: 1e-5, f16: 2e-3, bf16: 4e-3 };
/** Values as the GPU holds them in `dtype`, so references start from the same inputs. */
const held = (x: Float64Array, dtype: 'f32' | 'f16' | 'bf16') =>
  x.map((v) => (dtype === 'f16' ? fromF16Bits(toF16Bits(v)) : dtype === 'bf16' ? fromBf16Bits(toBf16Bits(v)) : Math.fround(v)));

test('upload and download round trip in every dtype, with f16/bf16 rounding as on the host', async () => {
  const x = randn(17 * 3, 5);
  for (const dtype of ['f32', 'bf16', ...(gpu.caps.f16 ? ['f16' as const] : [])] as const) {
    const t = Tensor.from(gpu, x, [17, 3], dtype);
    const back = await t.toArray();
    const expect_ = Array.from(x, (v) => (dtype === 'bf16' ? fromBf16Bits(toBf16Bits(v)) : dtype === 'f16' ? fromF16Bits(toF16Bits(v)) : Math.fround(v)));
    expect(Array.from(back)).toEqual(expect_);
    t.dispose();
  }
});

test('cast between f32, bf16 and f16 rounds to nearest even on the GPU exactly like the host', async () => {
  const x = [...randn(33, 2)].map((v) => v * 1000).concat([1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, 65504, 1e-6]);
  const t = Tensor.from(gpu, x, [x.length]);
  const b = cast(t, 'bf16');
  expect(Array.from(await b.toArray())).toEqual(x.map((v) => fromBf16Bits(toBf16Bits(v))));
  const back = cast(b, 'f32');
  expect(Array.from(await back.toArray())).toEqual(x.map((v) => fromBf16Bits(toBf16Bits(v))));
  if (gpu.caps.f16) {
    const h = cast(t, 'f16');
    expect(Array.from(await h.toArray())).toEqual(x.map((v) => fromF16Bits(toF16Bits(v))));
    h.dispose();
  }
  [t, b, back].forEach((z) => z.dispose());
});

test('strided views (transpose, slice) become contiguous with the right values', async () => {
  const [B, M, N] = [3, 5, 7];
  const x = randn(B * M * N, 3);
  const t = Tensor.from(gpu, x, [B, M, N]);
  const v = t.transpose(0, 2).slice(1, 1, 4); // [N, 3, B] from m = 1..3
  const got = await contiguous(v).toArray();
  const want: number[] = [];
  for (let n = 0; n < N; n++) for (let m = 1; m < 4; m++) for (let b = 0; b < B; b++) want.push(Math.fround(x[(b * M + m) * N + n]));
  expect(Array.from(got)).toEqual(want);
  v.dispose(); t.dispose();
});

// D = 5 moves one element at a time, D = 8 four (VEC4).
for (const D of [5, 8]) test(`copyInto writes a strided source into a strided view, converting dtype, and leaves the rest alone (D = ${D})`, async () => {
  const [B, T, H] = [2, 3, 2];
  const x = randn(B * H * T * D, 4);
  type Pair = ['f32' | 'f16' | 'bf16', 'f32' | 'f16'];
  const pairs: Pair[] = [['f32', 'f32'], ['bf16', 'f32'], ...(gpu.caps.f16 ? [['f32', 'f16'], ['f16', 'f16']] as Pair[] : [])];
  for (const [from, to] of pairs) {
    const src = Tensor.from(gpu, x, [B, T, H, D], from);   // read as its [B, H, T, D] permutation
    const fused = Tensor.zeros(gpu, [B, T, 3, H, D], to);    // write into the middle third
    const view = fused.select(2, 1).permute([0, 2, 1, 3]);
    const srcView = src.permute([0, 2, 1, 3]);
    copyInto(srcView, view);
    const got = await fused.toArray();
    const hx = held(x, from);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < 3; k++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
      const want = k === 1 ? hx[((b * T + t) * H + h) * D + d] : 0;
      expect(got[((((b * T + t) * 3 + k) * H + h) * D + d)]).toBeCloseTo(want, to === 'f16' ? 2 : 6);
    }
    [src, fused, view, srcView].forEach((t) => t.dispose());
  }
  const a = Tensor.zeros(gpu, [2, 3]), b = Tensor.zeros(gpu, [3, 2]);
  expect(() => copyInto(a, b)).toThrow(/shapes \[2,3\] and \[3,2\] differ/);
  expect(() => copyInto(a, a)).toThrow(/must not share storage/);
  [a, b].forEach((t) => t.dispose());
});

for (const dtype of dtypes) {
  test(`binary ops broadcast like numpy (${dtype})`, async () => {
    const a = held(randn(4 * 1 * 6, 7), dtype), b = held(randn(3 * 6, 8), dtype);
    const ta = Tensor.from(gpu, a, [4, 1, 6], dtype), tb = Tensor.from(gpu, b, [3, 6], dtype);
    const cases = { add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y, div: (x: number, y: number) => x / (y + 3), maximum: Math.max };
    const tb3 = unary('addScalar', tb, 3);
    for (const [name, f] of Object.entries(cases)) {
      const out = name === 'div' ? div(ta, tb3) : binary(name as 'add', ta, tb);
      expect(out.dtype).toBe(dtype);
      expect(out.shape).toEqual([4, 3, 6]);
      const want: number[] = [];
      for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 6; k++) want.push(f(a[i * 6 + k], b[j * 6 + k]));
      expect(maxRelErr(await out.toArray(), want), name).toBeLessThan(tol[dtype] * 4);
      out.dispose();
    }
    [ta, tb, tb3].forEach((z) => z.dispose());
  });

  test(`same-shape operands four at a time, from offsets that allow it or not (${dtype})`, async () => {
    const a = held(randn(5 * 44, 10), dtype), b = held(randn(5 * 44, 11), dtype);
    const ta = Tensor.from(gpu, a, [5, 44], dtype), tb = Tensor.from(gpu, b, [5, 44], dtype);
    // Rows 1..3 start at element 44 (a multiple of 4); a slice of columns 2..41 is not contiguous.
    for (const [lo, hi] of [[0, 5], [1, 4]]) {
      const va = ta.slice(0, lo, hi), vb = tb.slice(0, lo, hi);
      const sum = binary('add', va, vb), scaled = unary('scale', va, 3);
      const want = Array.from({ length: (hi - lo) * 44 }, (_, i) => a[lo * 44 + i] + b[lo * 44 + i]);
      expect(maxRelErr(await sum.toArray(), want)).toBeLessThan(tol[dtype] * 4);
      expect(maxRelErr(await scaled.toArray(), want.map((_, i) => 3 * a[lo * 44 + i]))).toBeLessThan(tol[dtype] * 4);
      [va, vb, sum, scaled].forEach((t) => t.dispose());
    }
    const odd = Tensor.from(gpu, a.slice(0, 42), [42], dtype).slice(0, 2, 42);   // offset 2: one at a time
    const twice = binary('add', odd, odd);
    expect(maxRelErr(await twice.toArray(), Array.from(a.slice(2, 42), (v) => 2 * v))).toBeLessThan(tol[dtype] * 4);
    [ta, tb, odd, twice].forEach((t) => t.dispose());
  });

  test(`unary ops match the f64 reference (${dtype})`, async () => {
    const x = held(randn(129, 9).map((v) => v * 2), dtype);
    const t = Tensor.from(gpu, x, [129], dtype);
    const square = unary('square', t);
    const pos = unary('addScalar', square, 0.5);
    const stored = (v: number) => held(Float64Array.of(v), dtype)[0];
    const cases: [string, Tensor, (v: number) => number][] = [
      ['scale', unary('scale', t, -1.5), (v) => v * -1.5], ['relu', unary('relu', t), (v) => Math.max(v, 0)],
      ['exp', unary('exp', t), Math.exp], ['tanh', unary('tanh', t), Math.tanh], ['neg', unary('neg', t), (v) => -v],
      // log and sqrt read the intermediate x^2 + 0.5 as stored (rounded twice in f16 and bf16).
      ['log', unary('log', pos), (v) => Math.log(stored(stored(v * v) + 0.5))],
      ['sqrt', unary('sqrt', pos), (v) => Math.sqrt(stored(stored(v * v) + 0.5))],
    ];
    for (const [name, out, f] of cases) {
      expect(maxRelErr(await out.toArray(), Array.from(x, f), 0.05), name).toBeLessThan(tol[dtype] * 8);
      out.dispose();
    }
    [t, square, pos].forEach((z) => z.dispose());
  });

  // 1031 rows > 2 chunks of 256: axis 1 takes the two-pass column path, with a ragged last chunk;
  // 5 columns read one at a time, 8 four at a time (VEC4).
  for (const cols of [5, 8]) test(`sum, mean and max along every axis of an awkward shape ([3, 1031, ${cols}] ${dtype})`, async () => {
    const shape = [3, 1031, cols];
    const x = held(randn(3 * 1031 * cols, 11), dtype);
    const t = Tensor.from(gpu, x, shape, dtype);
    for (const axis of [0, 1, 2]) {
      for (const op of ['sum', 'mean', 'max'] as const) {
        const out = reduce(op, t, axis, true);
        expect(out.dtype).toBe(dtype);
        const oshape = shape.map((d, i) => (i === axis ? 1 : d));
        expect(out.shape).toEqual(oshape);
        const want: number[] = [];
        for (let i = 0; i < oshape[0]; i++) for (let j = 0; j < oshape[1]; j++) for (let k = 0; k < oshape[2]; k++) {
          let acc = op === 'max' ? -Infinity : 0;
          for (let r = 0; r < shape[axis]; r++) {
            const idx = [i, j, k]; idx[axis] = r;
            const v = x[(idx[0] * 1031 + idx[1]) * cols + idx[2]];
            acc = op === 'max' ? Math.max(acc, v) : acc + v;
          }
          want.push(op === 'mean' ? acc / shape[axis] : acc);
        }
        expect(maxRelErr(await out.toArray(), want, 1e-2), `${op} axis ${axis}`).toBeLessThan({ f32: 1e-4, f16: 3e-3, bf16: 8e-3 }[dtype]);
        out.dispose();
      }
    }
    t.dispose();
  });
}

test('shape and dtype errors are clear', () => {
  const a = Tensor.zeros(gpu, [2, 3]);
  const b = Tensor.zeros(gpu, [4, 3]);
  expect(() => add(a, b)).toThrow(/do not broadcast/);
  expect(() => Tensor.from(gpu, [1, 2, 3], [2, 2])).toThrow(ShapeError);
  expect(() => a.reshape([4, 2])).toThrow(/cannot reshape/);
  expect(() => a.slice(0, 1, 5)).toThrow(/outside dimension/);
  const ids = Tensor.zeros(gpu, [2, 3], 'u32');
  expect(() => mul(ids, ids)).toThrow(/takes f32 or f16 tensors, got u32/);
  const c = Tensor.zeros(gpu, [2, 3], 'bf16');
  expect(() => sub(a, c)).toThrow(/different dtypes/);
  [a, b, ids, c].forEach((t) => t.dispose());
});
