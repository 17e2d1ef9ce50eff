// Checkpoints in safetensors: exact round trips, clear CorruptFileErrors for damaged files, only
// the newest `keep` files kept, and a corrupt newest file skipped in favour of the one before.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testGpu } from '../helpers/gpu.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { CorruptFileError, InputError } from '../../src/errors.js';
import { decodeSafetensors, encodeSafetensors, type StTensor } from '../../src/train/safetensors.js';
import {
  checkpointPath, latestCheckpointMetadata, listCheckpoints, loadCheckpoint, loadLatestCheckpoint, saveCheckpoint,
} from '../../src/train/checkpoint.js';

const gpu = await testGpu();
const tempDir = () => mkdtemp(join(tmpdir(), 'webtrain-ckpt-'));
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('safetensors', () => {
  const tensors: Record<string, StTensor> = {
    'model.w': { dtype: 'F32', shape: [2, 3], data: bytes(Float32Array.from([1, -2.5, 3e-8, Infinity, -0, 6])) },
    ids: { dtype: 'U32', shape: [3], data: bytes(Uint32Array.from([0, 7, 2 ** 32 - 1])) },
    offsets: { dtype: 'I32', shape: [1, 1], data: bytes(Int32Array.from([-5])) },
    half: { dtype: 'F16', shape: [3], data: bytes(Uint16Array.from([0x3c00, 0xc000, 0x7bff])) },
    flags: { dtype: 'U8', shape: [5], data: Uint8Array.from([1, 0, 1, 1, 0]) },
    empty: { dtype: 'BF16', shape: [0, 4], data: new Uint8Array(0) },
  };

  test('round trip keeps every dtype, shape, byte and the metadata', () => {
    const file = encodeSafetensors(tensors, { step: '12', note: 'ünïcode' });
    const header = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + header) % 8).toBe(0);
    const back = decodeSafetensors(file);
    expect(back.metadata).toEqual({ step: '12', note: 'ünïcode' });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back.tensors[name].dtype, name).toBe(t.dtype);
      expect(back.tensors[name].shape, name).toEqual(t.shape);
      expect(back.tensors[name].data, name).toEqual(t.data);
    }
  });

  test('the header follows the format: sorted names, contiguous data_offsets', () => {
    const file = encodeSafetensors(tensors);
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
    let end = 0;
    for (const name of Object.keys(tensors).sort()) {
      expect(header[name].data_offsets[0]).toBe(end);
      end = header[name].data_offsets[1];
    }
    expect(file.byteLength).toBe(8 + n + end);
  });

  function withHeader(header: unknown, data = new Uint8Array(0)): Uint8Array {
    const head = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + head.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
    out.set(head, 8);
    out.set(data, 8 + head.length);
    return out;
  }

  const good = encodeSafetensors(tensors);
  const damaged: [string, Uint8Array, RegExp][] = [
    ['shorter than the length field', good.subarray(0, 5), /ckpt\.st is truncated \(5 bytes\)/],
    ['cut inside the header', good.subarray(0, 40), /header length \d+ exceeds the file \(40 bytes\)/],
    ['cut inside the data', good.subarray(0, good.length - 3), /needs \d+ bytes .* truncated or corrupt/],
    ['a header that is not JSON', (() => { const f = good.slice(); f[9] = 0x7b; f[10] = 0x7b; return f; })(), /not valid JSON/],
    ['a header that is a JSON array', withHeader([1, 2]), /not a JSON object/],
    ['an unknown dtype', withHeader({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor x has a malformed entry/],
    ['a dtype inherited from Object', withHeader({ x: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /malformed/],
    ['a negative dimension', withHeader({ x: { dtype: 'F32', shape: [-1], data_offsets: [4, 0] } }, new Uint8Array(4)), /malformed/],
    ['a size that disagrees with the shape', withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(8)), /needs 8 bytes at 0\.\.4/],
    ['offsets past the data', withHeader({ x: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, new Uint8Array(4)), /needs 4 bytes at 2\.\.6, but the data section has 4/],
  ];
  test.each(damaged)('%s gives a CorruptFileError that says so', (_, file, what) => {
    let error: unknown;
    try {
      decodeSafetensors(file, 'ckpt.st');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toMatch(/^ckpt\.st/);
    expect((error as Error).message).toMatch(what);
  });
});

describe('checkpoints', () => {
  function sampleTensors() {
    return new Map<string, Tensor>([
      ['model.w', Tensor.from(gpu, Float32Array.from({ length: 35 }, (_, i) => Math.sin(i) * 1e3), [5, 7])],
      ['optim.step', Tensor.from(gpu, Uint32Array.from([3, 4294967295]), [2], 'u32')],
      ['optim.delta', Tensor.from(gpu, Int32Array.from([-7, 9]), [2], 'i32')],
    ]);
  }

  test('save and load round-trip tensors exactly, with the step and metadata', async () => {
    const dir = await tempDir();
    const tensors = sampleTensors();
    if (gpu.caps.f16) tensors.set('model.half', Tensor.from(gpu, [0.5, -2, 65504], [3], 'f16'));
    const path = await saveCheckpoint(dir, 7, tensors, { run: 'test' });
    expect(path).toBe(checkpointPath(dir, 7));
    expect(path.endsWith('ckpt-00000007.safetensors')).toBe(true);
    const back = await loadCheckpoint(gpu, path);
    expect(back.step).toBe(7);
    expect(back.metadata).toMatchObject({ run: 'test', step: '7', format: 'webtrain-checkpoint/1' });
    for (const [name, t] of tensors) {
      const got = back.tensors.get(name)!;
      expect(got.shape, name).toEqual(t.shape);
      // f16 is stored widened to f32 (exactly representable); the other dtypes as themselves.
      expect(got.dtype, name).toBe(t.dtype === 'f16' ? 'f32' : t.dtype);
      expect(Array.from(await got.toArray()), name).toEqual(Array.from(await t.toArray()));
      got.dispose();
      t.dispose();
    }
    expect(await latestCheckpointMetadata(dir)).toMatchObject({ run: 'test', step: '7' });
  });

  test('only the newest `keep` checkpoints remain, oldest removed first', async () => {
    const dir = await tempDir();
    const tensors = sampleTensors();
    for (const step of [1, 2, 10, 11, 100]) await saveCheckpoint(dir, step, tensors, {}, 3);
    expect(await listCheckpoints(dir)).toEqual([10, 11, 100]);
    expect((await readdir(dir)).sort()).toEqual(['ckpt-00000010.safetensors', 'ckpt-00000011.safetensors', 'ckpt-00000100.safetensors']);
    await saveCheckpoint(dir, 101, tensors, {}, 1);
    expect(await listCheckpoints(dir)).toEqual([101]);
    const latest = await loadLatestCheckpoint(gpu, dir);
    expect(latest.step).toBe(101);
    for (const t of [...tensors.values(), ...latest.tensors.values()]) t.dispose();
  });

  test('listing ignores temporary and foreign files; a missing directory has none', async () => {
    const dir = await tempDir();
    for (const f of ['ckpt-00000003.safetensors.tmp-1-2', 'ckpt-3.safetensors', 'model.safetensors', 'metrics.jsonl']) await writeFile(join(dir, f), 'x');
    expect(await listCheckpoints(dir)).toEqual([]);
    expect(await listCheckpoints(join(dir, 'nope'))).toEqual([]);
    await expect(loadLatestCheckpoint(gpu, dir)).rejects.toThrow(InputError);
    await expect(loadLatestCheckpoint(gpu, dir)).rejects.toThrow(/no checkpoint \(ckpt-\*\.safetensors\) in .*; train first with --out/);
  });

  test('a corrupt newest checkpoint is skipped with a warning; the one before is loaded', async () => {
    const dir = await tempDir();
    const tensors = sampleTensors();
    await saveCheckpoint(dir, 4, tensors, { which: 'good' }, 5);
    const good = await readFile(checkpointPath(dir, 4));
    await writeFile(checkpointPath(dir, 6), good.subarray(0, good.length / 2));
    await writeFile(checkpointPath(dir, 8), encodeSafetensors({}, { format: 'something-else' }));
    const warnings: string[] = [];
    const ck = await loadLatestCheckpoint(gpu, dir, (m) => warnings.push(m));
    expect(ck.step).toBe(4);
    expect(ck.metadata.which).toBe('good');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/ckpt-00000008\.safetensors is not a webtrain checkpoint \(format 'something-else'\)/);
    expect(warnings[0]).toMatch(/ckpt-00000006\.safetensors: .*truncated/);
    expect(warnings[0]).toContain('using step 4');
    for (const t of [...tensors.values(), ...ck.tensors.values()]) t.dispose();
  });

  test('loading a damaged file directly gives a CorruptFileError naming it', async () => {
    const dir = await tempDir();
    const path = checkpointPath(dir, 1);
    await writeFile(path, encodeSafetensors({ x: { dtype: 'F16', shape: [1], data: new Uint8Array(2) } }, { format: 'webtrain-checkpoint/1' }));
    await expect(loadCheckpoint(gpu, path)).rejects.toThrow(CorruptFileError);
    await expect(loadCheckpoint(gpu, path)).rejects.toThrow(`${path}: tensor x has unsupported dtype F16`);
    await writeFile(path, new Uint8Array(3));
    await expect(loadCheckpoint(gpu, path)).rejects.toThrow(`${path} is truncated (3 bytes)`);
  });

  test('saving clears temporary files that an interrupted save left behind', async () => {
    const dir = await tempDir();
    await writeFile(`${checkpointPath(dir, 2)}.tmp-99-123`, 'partial');
    const tensors = sampleTensors();
    await saveCheckpoint(dir, 3, tensors, {});
    expect(await readdir(dir)).toEqual(['ckpt-00000003.safetensors']);
    for (const t of tensors.values()) t.dispose();
  });
});
