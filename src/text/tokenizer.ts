// The tokenizer API the rest of webtrain codes against (`webtrain prepare`, `webtrain tokenizer`).
// Two kinds stand behind it: byte-level BPE (GPT-2 style) and WordPiece (BERT style), both running
// in the text Wasm module; this file is the stable surface.

/** A loaded tokenizer. Instances hold Wasm memory: call `dispose()` when done with many of them. */
export interface Tokenizer {
  readonly kind: 'bpe' | 'wordpiece';
  /** Number of ids, special tokens included (ids are 0 .. vocabSize-1). */
  readonly vocabSize: number;
  /** Special tokens (e.g. `<|endoftext|>`, `[CLS]`) and their ids. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** End-of-document id to put between documents in shards (`<|endoftext|>` or `[SEP]`), if any. */
  readonly eosId: number | undefined;
  /** Token ids of `text`. Special-token strings inside `text` are encoded as ordinary text. */
  encode(text: string): Uint32Array;
  /** Text of `ids` (WordPiece joins `##` pieces and puts spaces between words). */
  decode(ids: ArrayLike<number>): string;
  /** The token string of an id (BPE: in the byte-to-unicode alphabet), or undefined. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /** Hugging Face `tokenizer.json` text for this tokenizer. */
  toJSON(): string;
  /** Frees the Wasm-side tables. */
  dispose(): void;
}

/**
 * Loads a tokenizer from `path`: a Hugging Face `tokenizer.json`; a folder holding GPT-2's
 * `encoder.json` + `vocab.bpe` or `vocab.json` + `merges.txt` (or a `tokenizer.json`); or a BERT `vocab.txt`
 * (or a folder holding one). Throws InputError / CorruptFileError with advice on what is wrong.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  // Implementation lands in the next commits (BPE and WordPiece in assembly/text/).
  throw new Error(`loadTokenizer(${path}): not implemented yet`);
}
