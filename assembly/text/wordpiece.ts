// WordPiece encoding (BERT): the basic tokenizer's words, each split greedily into the longest
// vocabulary pieces from the left, later pieces looked up as `##` continuations. A word with a part
// no piece covers, or longer than maxInputChars characters, becomes the unknown token.
import { bertWords, wordPointer } from './bert_basic';
import { ByteStringTable, U32List } from './buffers';
import { reserveOutput, growOutput } from './memory';
import { utf8Length } from './unicode';

class WordPieceModel {
  vocab: ByteStringTable = new ByteStringTable(); // tag 1: continuation (written with the ## prefix)
  ids: U32List = new U32List();
  unkId: u32;
  maxInputChars: i32;
  words: U32List = new U32List();
  joined: U32List = new U32List();

  constructor(unkId: u32, maxInputChars: i32) {
    this.unkId = unkId;
    this.maxInputChars = maxInputChars;
  }

  /** Ids of one word appended at `n` of `out` (room for one id per byte is reserved by the caller). */
  encodeWord(p: usize, len: i32, out: usize, n: i32): i32 {
    let chars = 0;
    for (let i = 0; i < len; i += utf8Length(<u32>load<u8>(p + i))) chars++;
    if (chars > this.maxInputChars) {
      store<u32>(out + (<usize>n << 2), this.unkId);
      return n + 1;
    }
    const first = n;
    let start = 0;
    while (start < len) {
      let end = len;
      let found = -1;
      while (end > start) {
        found = this.vocab.find(p + start, end - start, start > 0 ? 1 : 0);
        if (found >= 0) break;
        // Back off one character: step over UTF-8 continuation bytes.
        end--;
        while (end > start && (load<u8>(p + end) & 0xc0) == 0x80) end--;
      }
      if (found < 0) {
        store<u32>(out + (<usize>first << 2), this.unkId);
        return first + 1;
      }
      store<u32>(out + (<usize>n << 2), this.ids.get(found));
      n++;
      start = end;
    }
    return n;
  }

  encode(p: usize, len: i32): i32 {
    bertWords(p, len, this.words, this.joined);
    let capacity = <usize>max(len, 1);
    let out = reserveOutput(capacity << 2);
    let n = 0;
    const words = this.words;
    for (let k = 0; k < words.length; k += 2) {
      const wl = <i32>words.get(k + 1);
      if (<usize>(n + wl) > capacity) {
        capacity = max(capacity * 2, <usize>(n + wl));
        out = growOutput(capacity << 2);
      }
      n = this.encodeWord(wordPointer(words.get(k), this.joined), wl, out, n);
    }
    return n;
  }
}

const models = new Array<WordPieceModel | null>();

function model(handle: i32): WordPieceModel {
  return changetype<WordPieceModel>(models[handle]);
}

/**
 * A WordPiece model of `count` tokens: token k is bytes [offsets[k], offsets[k+1]) of `bytes` (without
 * the ## prefix) and has id ids[k] & 0x7fffffff; the top bit of ids[k] marks a continuation.
 */
export function wordPieceCreate(count: i32, bytes: usize, offsets: usize, ids: usize, unkId: i32, maxInputChars: i32): i32 {
  const m = new WordPieceModel(<u32>unkId, maxInputChars);
  for (let k = 0; k < count; k++) {
    const start = load<u32>(offsets + (<usize>k << 2));
    const end = load<u32>(offsets + (<usize>(k + 1) << 2));
    const id = load<u32>(ids + (<usize>k << 2));
    const e = m.vocab.intern(bytes + start, <i32>(end - start), id >>> 31);
    if (e == m.ids.length) m.ids.push(id & 0x7fffffff); // the first of duplicate tokens keeps its id
  }
  models.push(m);
  return models.length - 1;
}

/** Ids of UTF-8 text (already normalised by the host) into the output buffer; returns how many. */
export function wordPieceEncode(handle: i32, text: usize, len: i32): i32 {
  return model(handle).encode(text, len);
}

export function wordPieceDispose(handle: i32): void {
  const m = models[handle];
  if (m) {
    m.vocab.dispose();
    m.ids.dispose();
    m.words.dispose();
    m.joined.dispose();
  }
  models[handle] = null;
}
