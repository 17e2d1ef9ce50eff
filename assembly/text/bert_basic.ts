// BERT's basic tokenizer over UTF-8, after the host has done the Unicode work (NFD, accent stripping,
// lower-casing): drops control characters, splits on whitespace, and makes each punctuation mark and
// each CJK ideograph a word of its own. Matches Hugging Face's BertNormalizer (clean_text,
// handle_chinese_chars) followed by BertPreTokenizer.
import { classOf, decodeAt, utf8Length, WHITE_SPACE, PUNCTUATION, OTHER } from './unicode';
import { U32List } from './buffers';

// @ts-ignore: decorator
@inline
function isCjk(cp: u32): bool {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

// @ts-ignore: decorator
@inline
function isAsciiPunctuation(cp: u32): bool {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

/**
 * Words of [p, p+len) into `words` as (start, length) pairs of byte ranges. Control characters
 * inside a word are skipped, so a word's bytes need not be contiguous: such words are copied into
 * `joined` and their start is `joined`'s offset with the top bit set.
 */
export function bertWords(p: usize, len: i32, words: U32List, joined: U32List): void {
  words.length = 0;
  joined.length = 0;
  const end = p + len;
  let wordStart: usize = 0;
  let inWord = false;
  let gapped = false; // a control character was dropped inside the current word
  let joinedStart = 0; // byte offset in `joined` while gapped
  let joinedLength = 0;
  let q = p;
  while (q < end) {
    const cl = min(utf8Length(<u32>load<u8>(q)), <i32>(end - q));
    const cp = decodeAt(q, cl);
    const cls = classOf(cp);
    const isSpace = (cls & WHITE_SPACE) != 0 || cp == 9 || cp == 10 || cp == 13;
    const isControl = !isSpace && (cp == 0 || cp == 0xfffd || (cls & OTHER) != 0);
    if (isControl) {
      if (inWord && !gapped) {
        // Start copying this word so the characters around the dropped one join up.
        gapped = true;
        joinedLength = <i32>(q - wordStart);
        joinedStart = appendBytes(joined, joined.length << 2, wordStart, joinedLength);
      }
      q += cl;
      continue;
    }
    const alone = !isSpace && (isCjk(cp) || (cls & PUNCTUATION) != 0 || isAsciiPunctuation(cp));
    if (isSpace || alone) {
      if (inWord) finishWord(words, wordStart, q, gapped, joinedStart, joinedLength);
      inWord = false;
      gapped = false;
      if (alone) {
        words.push(<u32>q);
        words.push(<u32>cl);
      }
    } else if (!inWord) {
      inWord = true;
      wordStart = q;
    } else if (gapped) {
      appendBytes(joined, joinedStart + joinedLength, q, cl);
      joinedLength += cl;
    }
    q += cl;
  }
  if (inWord) finishWord(words, wordStart, q, gapped, joinedStart, joinedLength);
}

/** Copies `n` bytes to byte offset `at` of `list` (growing it); returns `at`. */
function appendBytes(list: U32List, at: i32, src: usize, n: i32): i32 {
  const needWords = (at + n + 3) >> 2;
  if (needWords > list.length) {
    list.ensure(needWords - list.length);
    list.length = needWords;
  }
  memory.copy(list.ptr + at, src, n);
  return at;
}

// @ts-ignore: decorator
@inline
function finishWord(words: U32List, start: usize, end: usize, gapped: bool, joinedStart: i32, joinedLength: i32): void {
  if (gapped) {
    if (joinedLength > 0) {
      words.push(<u32>joinedStart | 0x80000000);
      words.push(<u32>joinedLength);
    }
  } else {
    words.push(<u32>start);
    words.push(<u32>(end - start));
  }
}

/** Pointer to a word's bytes (see bertWords). */
// @ts-ignore: decorator
@inline
export function wordPointer(start: u32, joined: U32List): usize {
  return start & 0x80000000 ? joined.ptr + (start & 0x7fffffff) : <usize>start;
}
