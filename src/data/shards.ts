// Token shards: what `webtrain prepare` writes and training reads. A directory holds
// train_000.bin, train_001.bin, ..., val_000.bin, ... (raw little-endian token ids, uint16 when
// the vocabulary fits, each document followed by the EOS id when there is one) and meta.json:
// {"format":"webtrain-shards","version":1,"dtype":"uint16"|"uint32","vocab_size":N,"eos_id":N|null,
//  "tokenizer":"tokenizer.json"|null,"train":{"files":[...],"tokens":N},"val":{...},"stats":{...}}
// Portable: files go through platform().
import { CorruptFileError, InputError } from '../errors.js';
import { platform } from '../platform/index.js';

export type Split = 'train' | 'val';
export type TokenDtype = 'uint16' | 'uint32';

export interface ShardMeta {
  format: 'webtrain-shards';
  version: 1;
  dtype: TokenDtype;
  vocab_size: number;
  eos_id: number | null;
  /** Path of the tokenizer.json inside the directory, or null. */
  tokenizer: string | null;
  train: { files: string[]; tokens: number };
  val: { files: string[]; tokens: number };
  stats: Record<string, unknown>;
}

export const META_FILE = 'meta.json';

export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

const bytesPerToken = (dtype: TokenDtype) => (dtype === 'uint16' ? 2 : 4);
const joinPath = (dir: string, name: string) => `${dir.replace(/[\\/]+$/, '')}/${name}`;
const shardName = (split: Split, index: number) => `${split}_${String(index).padStart(3, '0')}.bin`;

// Shards are little-endian; typed arrays use the host's order, which is little-endian everywhere webtrain runs.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('webtrain: token shards need a little-endian host');

export interface ShardWriterOptions {
  vocabSize: number;
  eosId: number | null;
  /** Tokens per .bin file (default 2^24: 32 MiB as uint16). */
  tokensPerShard?: number;
}

/** Writes documents' token ids into shards; `finish` writes meta.json last, so a directory with meta.json is complete. */
export class ShardWriter {
  readonly dtype: TokenDtype;
  private readonly tokensPerShard: number;
  private readonly buffers: Record<Split, Uint16Array | Uint32Array>;
  private readonly filled: Record<Split, number> = { train: 0, val: 0 };
  private readonly files: Record<Split, string[]> = { train: [], val: [] };
  private readonly tokens: Record<Split, number> = { train: 0, val: 0 };

  private constructor(
    readonly dir: string,
    private readonly options: ShardWriterOptions,
  ) {
    const { vocabSize, eosId } = options;
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > 2 ** 32)
      throw new InputError(`vocabulary size must be an integer in 1..2^32, got ${vocabSize}`);
    if (eosId !== null && !(Number.isInteger(eosId) && eosId >= 0 && eosId < vocabSize))
      throw new InputError(`EOS id ${eosId} is outside the vocabulary (size ${vocabSize})`);
    this.dtype = dtypeFor(vocabSize);
    this.tokensPerShard = options.tokensPerShard ?? 1 << 24;
    if (!(Number.isInteger(this.tokensPerShard) && this.tokensPerShard > 0))
      throw new InputError(`tokens per shard must be a positive integer, got ${this.tokensPerShard}`);
    const make = () => (this.dtype === 'uint16' ? new Uint16Array(this.tokensPerShard) : new Uint32Array(this.tokensPerShard));
    this.buffers = { train: make(), val: make() };
  }

  /** Creates `dir` (removing shards and meta.json of an earlier run there). */
  static async create(dir: string, options: ShardWriterOptions): Promise<ShardWriter> {
    const writer = new ShardWriter(dir, options);
    const p = platform();
    await p.mkdirp(dir);
    for (const name of await p.listDir(dir)) {
      if (name === META_FILE || /^(train|val)_\d+\.bin$/.test(name)) await p.remove(joinPath(dir, name));
    }
    return writer;
  }

  /** Appends one document's ids (and the EOS id after it) to a split. */
  async addDocument(split: Split, ids: ArrayLike<number>): Promise<void> {
    const vocab = this.options.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] >= vocab) throw new InputError(`token id ${ids[i]} is outside the vocabulary (size ${vocab}): wrong tokenizer?`);
    }
    await this.append(split, ids);
    if (this.options.eosId !== null) await this.append(split, [this.options.eosId]);
  }

  private async append(split: Split, ids: ArrayLike<number>): Promise<void> {
    const buffer = this.buffers[split];
    let from = 0;
    while (from < ids.length) {
      const n = Math.min(ids.length - from, buffer.length - this.filled[split]);
      for (let i = 0; i < n; i++) buffer[this.filled[split] + i] = ids[from + i];
      this.filled[split] += n;
      from += n;
      if (this.filled[split] === buffer.length) await this.flush(split);
    }
  }

  private async flush(split: Split): Promise<void> {
    const n = this.filled[split];
    if (n === 0) return;
    const name = shardName(split, this.files[split].length);
    const view = this.buffers[split].subarray(0, n);
    await platform().writeFileAtomic(joinPath(this.dir, name), new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    this.files[split].push(name);
    this.tokens[split] += n;
    this.filled[split] = 0;
  }

  /** Tokens written or buffered so far. */
  tokenCount(split: Split): number {
    return this.tokens[split] + this.filled[split];
  }

  /** Writes the last partial shards, the tokenizer (if given) and meta.json. */
  async finish(tokenizerJson: string | null, stats: Record<string, unknown>): Promise<ShardMeta> {
    await this.flush('train');
    await this.flush('val');
    const tokenizer = tokenizerJson === null ? null : 'tokenizer.json';
    if (tokenizer) await platform().writeFileAtomic(joinPath(this.dir, tokenizer), tokenizerJson!);
    const meta: ShardMeta = {
      format: 'webtrain-shards',
      version: 1,
      dtype: this.dtype,
      vocab_size: this.options.vocabSize,
      eos_id: this.options.eosId,
      tokenizer,
      train: { files: this.files.train, tokens: this.tokens.train },
      val: { files: this.files.val, tokens: this.tokens.val },
      stats,
    };
    await platform().writeFileAtomic(joinPath(this.dir, META_FILE), JSON.stringify(meta, null, 2) + '\n');
    return meta;
  }
}

/** Reads and checks `dir`/meta.json. */
export async function readShardMeta(dir: string): Promise<ShardMeta> {
  const path = joinPath(dir, META_FILE);
  if (!(await platform().exists(path))) {
    throw new InputError(`${dir} is not a shard directory (no ${META_FILE}); create one with: webtrain prepare --input FILE --out ${dir}`);
  }
  let meta: ShardMeta;
  try {
    meta = JSON.parse(new TextDecoder().decode(await platform().readFile(path)));
  } catch (e) {
    throw new CorruptFileError(`${path} is not valid JSON (${(e as Error).message}); re-run webtrain prepare`);
  }
  const bad = (what: string) => new CorruptFileError(`${path}: ${what}; re-run webtrain prepare to rebuild the shards`);
  if (meta === null || typeof meta !== 'object' || meta.format !== 'webtrain-shards') throw bad('format is not "webtrain-shards"');
  if (meta.version !== 1) throw bad(`version ${meta.version} is not supported (this webtrain reads version 1)`);
  if (meta.dtype !== 'uint16' && meta.dtype !== 'uint32') throw bad(`dtype ${meta.dtype} is not uint16 or uint32`);
  if (!Number.isInteger(meta.vocab_size) || meta.vocab_size < 1) throw bad(`vocab_size ${meta.vocab_size} is not a positive integer`);
  if (meta.dtype !== dtypeFor(meta.vocab_size)) throw bad(`dtype ${meta.dtype} does not match vocab_size ${meta.vocab_size}`);
  if (meta.eos_id !== null && !(Number.isInteger(meta.eos_id) && meta.eos_id >= 0 && meta.eos_id < meta.vocab_size))
    throw bad(`eos_id ${meta.eos_id} is outside the vocabulary`);
  for (const split of ['train', 'val'] as const) {
    const s = meta[split];
    if (!s || !Array.isArray(s.files) || !Number.isInteger(s.tokens) || s.tokens < 0) throw bad(`"${split}" must be {"files":[...],"tokens":N}`);
    for (const f of s.files) {
      if (typeof f !== 'string' || !/^[\w.-]+\.bin$/.test(f)) throw bad(`"${split}" lists an invalid file name ${JSON.stringify(f)}`);
    }
  }
  return meta;
}

export interface ShardReaderOptions {
  /** Fail unless the shards were made for this vocabulary size (the model's). */
  expectVocabSize?: number;
  /** Shard contents kept in memory at most (default 1 GiB); others are re-read when needed. */
  maxCachedBytes?: number;
}

/**
 * Windows of T+1 consecutive tokens (inputs and next-token targets) from one split, read
 * sequentially or at random positions. Every file is checked when opened: size, dtype
 * alignment, token total and ids within the vocabulary.
 */
export class ShardReader {
  /** Token offset where each file starts, and the total at the end (set once all files are checked). */
  private starts: number[] = [0];
  private readonly cache = new Map<number, Uint16Array | Uint32Array>();
  private cachedBytes = 0;

  private constructor(
    readonly dir: string,
    readonly split: Split,
    readonly meta: ShardMeta,
    private readonly maxCachedBytes: number,
  ) {}

  static async open(dir: string, split: Split, options: ShardReaderOptions = {}): Promise<ShardReader> {
    const meta = await readShardMeta(dir);
    if (options.expectVocabSize !== undefined && options.expectVocabSize !== meta.vocab_size) {
      throw new InputError(
        `${dir}: shards were made for a vocabulary of ${meta.vocab_size} tokens but the model expects ${options.expectVocabSize}; ` +
          're-run webtrain prepare with the model\'s tokenizer',
      );
    }
    const files = meta[split].files;
    if (files.length === 0) throw new InputError(`${dir}: the ${split} split is empty; prepare more data or a larger --val-fraction`);
    const reader = new ShardReader(dir, split, meta, options.maxCachedBytes ?? 2 ** 30);
    const starts = [0];
    for (let i = 0; i < files.length; i++) starts.push(starts[i] + (await reader.loadChecked(i)).length);
    reader.starts = starts;
    if (reader.tokens !== meta[split].tokens) {
      throw new CorruptFileError(
        `${dir}: the ${split} shards hold ${reader.tokens} tokens but meta.json says ${meta[split].tokens} (a truncated or replaced file?); re-run webtrain prepare`,
      );
    }
    return reader;
  }

  /** Tokens in the split. */
  get tokens(): number {
    return this.starts[this.starts.length - 1];
  }

  /** Tokens of file `i`, read and checked (cached within the memory budget). */
  private async loadChecked(i: number): Promise<Uint16Array | Uint32Array> {
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i); // most recently used goes last
      this.cache.set(i, hit);
      return hit;
    }
    const name = this.meta[this.split].files[i];
    const path = joinPath(this.dir, name);
    if (!(await platform().exists(path))) throw new CorruptFileError(`${path} is listed in meta.json but missing; re-run webtrain prepare`);
    const bytes = await platform().readFile(path);
    const width = bytesPerToken(this.meta.dtype);
    if (bytes.byteLength % width !== 0) {
      throw new CorruptFileError(`${path}: ${bytes.byteLength} bytes is not a whole number of ${this.meta.dtype} tokens (truncated?); re-run webtrain prepare`);
    }
    // Copy when the bytes are not aligned for the typed array.
    const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
    const ids =
      this.meta.dtype === 'uint16'
        ? new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2)
        : new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    if (this.starts.length > i + 1 && this.starts[i + 1] - this.starts[i] !== ids.length) {
      throw new CorruptFileError(`${path} changed since it was opened; re-open the shards`);
    }
    let max = 0;
    for (let k = 0; k < ids.length; k++) if (ids[k] > max) max = ids[k];
    if (ids.length && max >= this.meta.vocab_size) {
      throw new CorruptFileError(`${path} holds token id ${max}, outside the vocabulary of ${this.meta.vocab_size} (wrong dtype or a foreign file); re-run webtrain prepare`);
    }
    this.cache.set(i, ids);
    this.cachedBytes += ids.byteLength;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= this.maxCachedBytes || k === i) break;
      this.cache.delete(k);
      this.cachedBytes -= v.byteLength;
    }
    return ids;
  }

  /** Index of the file holding token `pos`. */
  private fileAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Tokens [start, start + T + 1) of the split (across file boundaries). */
  async window(start: number, T: number): Promise<Uint32Array> {
    if (!(Number.isInteger(T) && T >= 1)) throw new InputError(`window length T must be a positive integer, got ${T}`);
    if (T + 1 > this.tokens) {
      throw new InputError(`${this.dir}: the ${this.split} split has ${this.tokens} tokens, fewer than one window of T+1 = ${T + 1}; use a shorter context or more data`);
    }
    if (!(Number.isInteger(start) && start >= 0 && start + T + 1 <= this.tokens)) {
      throw new InputError(`window start ${start} is outside 0..${this.tokens - T - 1}`);
    }
    const out = new Uint32Array(T + 1);
    let filled = 0;
    let pos = start;
    while (filled < out.length) {
      const f = this.fileAt(pos);
      const ids = await this.loadChecked(f);
      const from = pos - this.starts[f];
      const n = Math.min(out.length - filled, ids.length - from);
      out.set(ids.subarray(from, from + n), filled);
      filled += n;
      pos += n;
    }
    return out;
  }

  /** A window at a uniformly random start; `random` returns numbers in [0, 1) (default Math.random). */
  randomWindow(T: number, random: () => number = Math.random): Promise<Uint32Array> {
    const starts = this.tokens - T; // valid starts: 0 .. tokens - T - 1
    return this.window(Math.min(starts - 1, Math.floor(random() * starts)), T);
  }

  /** B random windows, row after row: a Uint32Array of B * (T + 1). */
  async randomBatch(B: number, T: number, random: () => number = Math.random): Promise<Uint32Array> {
    const out = new Uint32Array(B * (T + 1));
    for (let b = 0; b < B; b++) out.set(await this.randomWindow(T, random), b * (T + 1));
    return out;
  }

  /** Consecutive windows starting at 0, T, 2T, ... (each overlaps the next by one token), to the end of the split. */
  async *sequentialWindows(T: number): AsyncGenerator<Uint32Array> {
    for (let start = 0; start + T + 1 <= this.tokens; start += T) yield await this.window(start, T);
  }
}
