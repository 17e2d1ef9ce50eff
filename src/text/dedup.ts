// De-duplication. Exact: a 64-bit XXH64 of the normalised document in a Wasm hash set.
// Near: MinHash signatures over word shingles (Wasm), LSH banding to find candidates (a Wasm
// table of band keys), and a check of each candidate's estimated Jaccard similarity against
// the threshold. The first document of a group is kept; later ones are duplicates.
// Memory per kept document: 8-16 bytes (exact); 4 x numPerm bytes of signature plus 12-24
// bytes per band (near: 1-1.5 KB at the defaults; about 1 KB measured on 100k documents).
import { InputError } from '../errors.js';
import { WasmBytes } from './stream-buffer.js';
import type { TextWasm } from './wasm.js';

export class ExactDeduplicator {
  private readonly handle: number;

  constructor(private readonly wasm: TextWasm) {
    this.handle = wasm.hashSetNew(16);
  }

  /** True when the same bytes were seen before; otherwise remembers them. */
  isDuplicate(doc: WasmBytes): boolean {
    return this.wasm.hashSetAddBytes(this.handle, doc.ptr, doc.length) === 0;
  }

  get size(): number {
    return this.wasm.hashSetSize(this.handle);
  }

  dispose(): void {
    this.wasm.hashSetFree(this.handle);
  }
}

export interface MinHashOptions {
  /** Words per shingle (default 5). */
  shingleSize?: number;
  /** Hash permutations, i.e. signature length (default 128). */
  numPerm?: number;
  /** LSH bands; numPerm must be a multiple (default 32, so 4 rows per band). */
  bands?: number;
  /** Estimated Jaccard similarity at or above which a document is a near-duplicate (default 0.8). */
  threshold?: number;
  /** Seed of the permutations (default 1). */
  seed?: number;
}

export interface NearDuplicateResult {
  duplicate: boolean;
  /** Index (in the order documents were added) of the kept document it matches. */
  of?: number;
  /** Estimated Jaccard similarity with it. */
  similarity?: number;
}

/** Fraction of equal positions: the MinHash estimate of Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

// The Wasm side holds one permutation set; reconfigure when another deduplicator used it.
let configuredFor: NearDeduplicator | null = null;

export class NearDeduplicator {
  readonly shingleSize: number;
  readonly numPerm: number;
  readonly bands: number;
  readonly threshold: number;
  private readonly seed: bigint;
  private readonly signatureBuffer: WasmBytes;
  private readonly keyBuffer: WasmBytes;
  private readonly candidateBuffer: WasmBytes;
  private readonly index: number;
  private signatures = new Uint32Array(0);
  private kept = 0;

  constructor(
    private readonly wasm: TextWasm,
    options: MinHashOptions = {},
  ) {
    this.shingleSize = options.shingleSize ?? 5;
    this.numPerm = options.numPerm ?? 128;
    this.bands = options.bands ?? 32;
    this.threshold = options.threshold ?? 0.8;
    this.seed = BigInt(options.seed ?? 1);
    if (!Number.isInteger(this.shingleSize) || this.shingleSize < 1 || this.shingleSize > 32)
      throw new InputError(`shingle size must be an integer in 1..32, got ${this.shingleSize}`);
    if (!Number.isInteger(this.numPerm) || this.numPerm < 1 || this.numPerm > 4096)
      throw new InputError(`number of permutations must be an integer in 1..4096, got ${this.numPerm}`);
    if (!Number.isInteger(this.bands) || this.bands < 1 || this.numPerm % this.bands !== 0)
      throw new InputError(`bands (${this.bands}) must divide the number of permutations (${this.numPerm})`);
    if (!(this.threshold > 0 && this.threshold <= 1))
      throw new InputError(`Jaccard threshold must be in (0, 1], got ${this.threshold}`);
    this.signatureBuffer = new WasmBytes(wasm);
    this.signatureBuffer.reserve(this.numPerm * 4);
    this.keyBuffer = new WasmBytes(wasm);
    this.keyBuffer.reserve(this.bands * 8);
    this.candidateBuffer = new WasmBytes(wasm);
    this.candidateBuffer.reserve(this.bands * 4);
    this.index = wasm.lshNew();
  }

  /**
   * The similarity at which a pair becomes a candidate with probability 1/2 under this banding,
   * roughly (1/bands)^(1/rows): pairs well below it are rarely compared.
   */
  get candidateThreshold(): number {
    return Math.pow(1 / this.bands, this.bands / this.numPerm);
  }

  /** MinHash signature of the document (a copy), or null for a document without words. */
  signature(doc: WasmBytes): Uint32Array | null {
    if (configuredFor !== this) {
      this.wasm.minhashConfigure(this.numPerm, this.seed);
      configuredFor = this;
    }
    const shingles = this.wasm.minhashSignature(doc.ptr, doc.length, this.shingleSize, this.signatureBuffer.ptr);
    if (shingles === 0) return null;
    return new Uint32Array(this.wasm.memory.buffer, this.signatureBuffer.ptr, this.numPerm).slice();
  }

  /**
   * Whether the document nearly duplicates one kept before; when it does not, it is kept
   * (indexed for later documents). Documents without words are never duplicates and not indexed.
   */
  check(doc: WasmBytes): NearDuplicateResult {
    const found = this.find(doc);
    if (!found.duplicate && this.lastSignature) this.insert(this.lastSignature);
    return found;
  }

  /** Like `check`, but only looks: the document is not indexed. */
  find(doc: WasmBytes): NearDuplicateResult {
    this.lastSignature = this.signature(doc);
    const sig = this.lastSignature;
    if (!sig) return { duplicate: false };
    // Band keys of the signature still in the Wasm buffer, then the documents in those buckets.
    this.wasm.minhashBandKeys(this.signatureBuffer.ptr, this.bands, this.keyBuffer.ptr);
    this.wasm.lshLookup(this.index, this.keyBuffer.ptr, this.bands, this.candidateBuffer.ptr);
    const candidates = new Int32Array(this.wasm.memory.buffer, this.candidateBuffer.ptr, this.bands);
    let tried = -1;
    for (let b = 0; b < this.bands; b++) {
      const other = candidates[b];
      if (other < 0 || other === tried) continue;
      tried = other;
      const similarity = estimateJaccard(sig, this.signatures.subarray(other * this.numPerm, (other + 1) * this.numPerm));
      if (similarity >= this.threshold) return { duplicate: true, of: other, similarity };
    }
    return { duplicate: false };
  }

  private lastSignature: Uint32Array | null = null;

  // Indexes the signature whose band keys are in keyBuffer (from the `find` just before).
  private insert(sig: Uint32Array): void {
    const id = this.kept++;
    if (this.signatures.length < this.kept * this.numPerm) {
      const grown = new Uint32Array(Math.max(this.kept * this.numPerm, Math.ceil(this.signatures.length * 1.5)));
      grown.set(this.signatures);
      this.signatures = grown;
    }
    this.signatures.set(sig, id * this.numPerm);
    this.wasm.lshInsert(this.index, this.keyBuffer.ptr, this.bands, id);
  }

  /** Documents kept (indexed) so far. */
  get size(): number {
    return this.kept;
  }

  dispose(): void {
    if (configuredFor === this) configuredFor = null;
    this.wasm.lshFree(this.index);
    this.signatureBuffer.dispose();
    this.keyBuffer.dispose();
    this.candidateBuffer.dispose();
  }
}
