import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useNodePlatform } from '../../src/platform/node.js';
import { ShardReader, ShardWriter, readShardMeta } from '../../src/data/shards.js';
import { CorruptFileError, InputError } from '../../src/errors.js';

useNodePlatform();

const tmp = () => mkdtempSync(join(tmpdir(), 'webtrain-shards-'));

async function writeExample(dir: string, vocabSize = 1000, eosId: number | null = 999) {
  const w = await ShardWriter.create(dir, { vocabSize, eosId, tokensPerShard: 10 });
  const docs = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11], [12], [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]];
  for (const d of docs) await w.addDocument('train', d);
  await w.addDocument('val', [500, 501]);
  const meta = await w.finish('{"model":{}}', { documents: 5 });
  return { meta, docs };
}

test('writer produces the documented layout: numbered little-endian shards and meta.json', async () => {
  const dir = tmp();
  const { meta } = await writeExample(dir);
  expect(meta).toEqual({
    format: 'webtrain-shards', version: 1, dtype: 'uint16', vocab_size: 1000, eos_id: 999, tokenizer: 'tokenizer.json',
    train: { files: ['train_000.bin', 'train_001.bin', 'train_002.bin'], tokens: 27 },
    val: { files: ['val_000.bin'], tokens: 3 },
    stats: { documents: 5 },
  });
  expect(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'))).toEqual(meta);
  const first = readFileSync(join(dir, 'train_000.bin'));
  expect(first.length).toBe(20);
  expect([...first.subarray(0, 8)]).toEqual([1, 0, 2, 0, 3, 0, 0xe7, 0x03]); // 1, 2, 3, EOS 999
  expect(readFileSync(join(dir, 'tokenizer.json'), 'utf8')).toBe('{"model":{}}');
  expect(readdirSync(dir).sort()).toEqual(['meta.json', 'tokenizer.json', 'train_000.bin', 'train_001.bin', 'train_002.bin', 'val_000.bin']);
});

test('reader returns sequential and random windows of T+1 tokens across shard boundaries', async () => {
  const dir = tmp();
  const { docs } = await writeExample(dir);
  const stream = docs.flatMap((d) => [...d, 999]);
  const reader = await ShardReader.open(dir, 'train');
  expect(reader.tokens).toBe(stream.length);
  const T = 4;
  const windows: number[][] = [];
  for await (const w of reader.sequentialWindows(T)) windows.push([...w]);
  expect(windows.length).toBe(Math.floor((stream.length - 1) / T));
  windows.forEach((w, i) => expect(w).toEqual(stream.slice(i * T, i * T + T + 1)));
  expect([...(await reader.window(8, 5))]).toEqual(stream.slice(8, 14)); // crosses train_000 -> train_001
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const batch = await reader.randomBatch(6, T, random);
  expect(batch.length).toBe(6 * (T + 1));
  for (let b = 0; b < 6; b++) {
    const row = [...batch.subarray(b * (T + 1), (b + 1) * (T + 1))];
    const at = stream.findIndex((_, i) => row.every((v, k) => stream[i + k] === v));
    expect(at).toBeGreaterThanOrEqual(0);
  }
  const edge = await reader.randomWindow(T, () => 0.9999999);
  expect([...edge]).toEqual(stream.slice(stream.length - T - 1));
  await expect(reader.window(0, stream.length)).rejects.toThrow(InputError);
  const val = await ShardReader.open(dir, 'val');
  expect([...(await val.window(0, 2))]).toEqual([500, 501, 999]);
});

test('vocabularies above 65536 use uint32, and documents can go without an EOS id', async () => {
  const dir = tmp();
  const w = await ShardWriter.create(dir, { vocabSize: 100_000, eosId: null });
  await w.addDocument('train', [70_000, 1, 99_999]);
  await w.addDocument('val', [5]);
  const meta = await w.finish(null, {});
  expect(meta.dtype).toBe('uint32');
  expect(meta.tokenizer).toBeNull();
  expect([...new Uint32Array(new Uint8Array(readFileSync(join(dir, 'train_000.bin'))).buffer)]).toEqual([70_000, 1, 99_999]);
  const reader = await ShardReader.open(dir, 'train');
  expect([...(await reader.window(0, 2))]).toEqual([70_000, 1, 99_999]);
  await expect(w.addDocument('train', [100_000])).rejects.toThrow(/outside the vocabulary/);
});

test('corrupt or mismatched shard directories are refused with a clear error', async () => {
  await expect(readShardMeta(tmp())).rejects.toThrow(new RegExp('not a shard directory.*webtrain prepare'));

  const withMeta = async (edit: (m: Record<string, unknown>) => void) => {
    const dir = tmp();
    await writeExample(dir);
    const m = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    edit(m);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(m));
    return dir;
  };
  await expect(readShardMeta(await withMeta((m) => (m.format = 'other')))).rejects.toThrow(CorruptFileError);
  await expect(readShardMeta(await withMeta((m) => (m.version = 2)))).rejects.toThrow(/version 2 is not supported/);
  await expect(readShardMeta(await withMeta((m) => (m.dtype = 'uint32')))).rejects.toThrow(/does not match vocab_size/);
  await expect(readShardMeta(await withMeta((m) => (m.train = { files: ['../x.bin'], tokens: 1 })))).rejects.toThrow(/invalid file name/);

  const dir = tmp();
  await writeExample(dir);
  writeFileSync(join(dir, 'meta.json'), '{ not json');
  await expect(readShardMeta(dir)).rejects.toThrow(/not valid JSON/);

  const truncated = tmp();
  await writeExample(truncated);
  const bytes = readFileSync(join(truncated, 'train_001.bin'));
  writeFileSync(join(truncated, 'train_001.bin'), bytes.subarray(0, bytes.length - 1));
  await expect(ShardReader.open(truncated, 'train')).rejects.toThrow(/not a whole number of uint16 tokens/);
  writeFileSync(join(truncated, 'train_001.bin'), bytes.subarray(0, bytes.length - 2));
  await expect(ShardReader.open(truncated, 'train')).rejects.toThrow(/hold 26 tokens but meta.json says 27/);

  const foreign = tmp();
  await writeExample(foreign);
  writeFileSync(join(foreign, 'val_000.bin'), new Uint8Array(new Uint16Array([500, 60000, 999]).buffer));
  await expect(ShardReader.open(foreign, 'val')).rejects.toThrow(/token id 60000, outside the vocabulary of 1000/);

  const ok = tmp();
  await writeExample(ok);
  await expect(ShardReader.open(ok, 'train', { expectVocabSize: 50257 })).rejects.toThrow(/made for a vocabulary of 1000 tokens but the model expects 50257/);
});
