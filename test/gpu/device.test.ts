import { testGpu } from '../helpers/gpu.js';
import { Gpu } from '../../src/gpu/device.js';
import { specialise, preprocess, specKey } from '../../src/gpu/specialise.js';
import { sizeClass } from '../../src/gpu/pool.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { add } from '../../src/tensor/ops.js';
import { platform, setPlatform } from '../../src/platform/index.js';
import { NoAdapterError, OutOfMemoryError, ShaderCompileError, DeviceLostError } from '../../src/errors.js';

const gpu = await testGpu();

test('specialisation prepends enables, aliases and consts and selects #if blocks', () => {
  const src = 'fn f() -> T {\n#if A\n  return T(1);\n#else\n#if !B\n  return T(TILE);\n#endif\n#endif\n}';
  const out = specialise(src, { enable: ['f16'], alias: { T: 'f16' }, const: { TILE: 64, S: -2, X: 0.5, ON: true }, flags: [] });
  expect(out.split('\n').slice(0, 6)).toEqual(['enable f16;', 'alias T = f16;', 'const TILE = 64u;', 'const S = -2i;', 'const X = 0.5f;', 'const ON = true;']);
  expect(out).toContain('return T(TILE);');
  expect(out).not.toContain('return T(1);');
  expect(preprocess(src, ['A'])).toContain('return T(1);');
  expect(preprocess(src, ['B'])).not.toContain('return');
  // Line numbers stay put so compiler messages point at the template's lines.
  expect(preprocess(src, []).split('\n').length).toBe(src.split('\n').length);
  expect(() => preprocess('#if A\n', [])).toThrow(/without #endif/);
  expect(() => preprocess('#endif\n', [])).toThrow(/without #if/);
  expect(() => preprocess('#define X\n', [])).toThrow(/unknown directive/);
  expect(specKey({ flags: ['B', 'A'] })).toBe(specKey({ flags: ['A', 'B'] }));
});

test('buffer size classes round up to powers of two, then to eighths of a power of two', () => {
  expect(sizeClass(1)).toBe(16);
  expect(sizeClass(1000)).toBe(1024);
  expect(sizeClass((1 << 20) + 1)).toBe((1 << 20) + (1 << 17));
  expect(sizeClass(3 << 20)).toBe(3 << 20);
});

test('released buffers are reused by later tensors of the same class', () => {
  const held = gpu.pool.held;
  const a = Tensor.zeros(gpu, [1000]);
  const buf = a.buffer;
  a.dispose();
  const b = Tensor.zeros(gpu, [1001]);
  expect(b.buffer).toBe(buf);
  b.dispose();
  expect(gpu.pool.held).toBeGreaterThanOrEqual(held);
});

test('dispatches over the same buffers reuse their bind group, and trimming the pool drops them', async () => {
  const own = await Gpu.create();
  try {
    const created: unknown[] = [];
    const real = own.device.createBindGroup.bind(own.device);
    own.device.createBindGroup = (d: GPUBindGroupDescriptor) => { created.push(d); return real(d); };
    const a = Tensor.from(own, [1, 2, 3], [3]), b = Tensor.from(own, [10, 20, 30], [3]);
    const first = Array.from({ length: 3 }, () => add(a, b));
    const afterFirst = created.length;
    const firstBuffers = new Set(first.map((t) => t.buffer));
    first.forEach((t) => t.dispose());
    // The pool hands the same three output buffers back: combinations already bound.
    const second = Array.from({ length: 3 }, () => add(a, b));
    expect(created.length).toBe(afterFirst);
    expect(new Set(second.map((t) => t.buffer))).toEqual(firstBuffers);
    expect(await second[2].toArray()).toEqual(Float32Array.from([11, 22, 33]));
    [a, b, ...second].forEach((t) => t.dispose());
    // After a trim the idle buffers are destroyed: new tensors must not meet stale bind groups.
    own.pool.trim();
    const c = Tensor.from(own, [4, 5, 6], [3]), d = Tensor.from(own, [1, 1, 1], [3]);
    const e = add(c, d);
    expect(await e.toArray()).toEqual(Float32Array.from([5, 6, 7]));
    await own.check();
  } finally {
    own.destroy();
  }
});

test('a WGSL compile error becomes a ShaderCompileError naming the kernel and the line', async () => {
  const bad = { name: 'broken', source: '@group(0) @binding(0) var<uniform> p: vec4<u32>;\n@compute @workgroup_size(1) fn main() { let x: u32 = undefined_thing; }' };
  const t = Tensor.zeros(gpu, [4]);
  // The kernel takes no storage buffers; the uniform slot is bound for it.
  gpu.dispatch(bad, {}, [], [0], [1]);
  const err = await gpu.check().then(() => null, (e: Error) => e);
  expect(err).toBeInstanceOf(ShaderCompileError);
  expect(err!.message).toMatch(/kernel 'broken'.*failed to compile/);
  expect(err!.message).toMatch(/line 2: .*undefined_thing/);
  t.dispose();
  // The device is still usable afterwards.
  const x = Tensor.from(gpu, [1, 2], [2]);
  const y = add(x, x);
  expect(Array.from(await y.toArray())).toEqual([2, 4]);
  [x, y].forEach((z) => z.dispose());
});

test('a tensor larger than the adapter allows is an OutOfMemoryError with advice', () => {
  const max = gpu.caps.limits.maxStorageBufferBindingSize;
  expect(() => Tensor.empty(gpu, [max / 4 + 1024])).toThrow(OutOfMemoryError);
  expect(() => Tensor.empty(gpu, [max / 4 + 1024])).toThrow(/smaller batch/);
});

test('work on a destroyed device is a DeviceLostError', async () => {
  const other = await Gpu.create();
  other.destroy();
  await new Promise((r) => setTimeout(r, 50));
  expect(() => Tensor.zeros(other, [4])).toThrow(DeviceLostError);
});

test('no adapter gives a NoAdapterError with the platform\'s advice (which driver or browser to use)', async () => {
  const real = platform();
  setPlatform({ ...real, gpu: async () => null });
  try {
    await expect(Gpu.create()).rejects.toThrow(NoAdapterError);
    await expect(Gpu.create()).rejects.toThrow(real.noAdapterHint());
  } finally {
    setPlatform(real);
  }
});

test('profiling attributes GPU time to each kernel by name', async () => {
  if (!gpu.caps.timestamps) return expect(() => gpu.startProfile()).toThrow(/timestamp-query/);
  const x = Tensor.from(gpu, [1, 2, 3], [3]);
  gpu.startProfile();
  const y = add(x, x);
  const profile = await gpu.stopProfile();
  expect(profile.count.get('elementwise')).toBe(1);
  expect(profile.ns.get('elementwise')).toBeGreaterThanOrEqual(0);
  [x, y].forEach((z) => z.dispose());
});
