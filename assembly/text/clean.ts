// Cleaning and quality statistics on UTF-8 documents: control characters out, then the
// numbers the Gopher-style filters (MassiveWeb rules) decide on. Thresholds live in TypeScript.

import { HashSet64, FNV_OFFSET, FNV_PRIME, avalanche, wordHash } from './hash';

let controlsRemoved: i32 = 0;

/** Control characters removed (or CR turned into LF) by the last `cleanControls`. */
export function cleanControlsRemoved(): i32 {
  return controlsRemoved;
}

/**
 * Removes control characters in place: C0 except TAB and LF, DEL, C1 (U+0080..U+009F) and the
 * byte-order mark U+FEFF; CRLF and lone CR become LF. Returns the new length.
 */
export function cleanControls(p: usize, len: i32): i32 {
  controlsRemoved = 0;
  const end = p + <usize>len;
  let r = p;
  let w = p;
  while (r < end) {
    const b = <u32>load<u8>(r);
    if (b >= 0x20 && b < 0x7f) {
      store<u8>(w++, <u8>b);
      r++;
    } else if (b == 0x0a || b == 0x09) {
      store<u8>(w++, <u8>b);
      r++;
    } else if (b == 0x0d) {
      store<u8>(w++, 0x0a);
      r++;
      if (r < end && load<u8>(r) == 0x0a) r++;
      controlsRemoved++;
    } else if (b < 0x80) {
      r++;
      controlsRemoved++;
    } else if (b == 0xc2 && r + 1 < end && load<u8>(r + 1) < 0xa0) {
      r += 2; // C1 control
      controlsRemoved++;
    } else if (b == 0xef && r + 2 < end && load<u8>(r + 1) == 0xbb && load<u8>(r + 2) == 0xbf) {
      r += 3; // U+FEFF
      controlsRemoved++;
    } else {
      store<u8>(w++, <u8>b);
      r++;
    }
  }
  return <i32>(w - p);
}

// Indices into the statistics array written by `qualityStats` (mirrored in src/text/clean.ts).
const S_CHARS = 0;
const S_NONSPACE = 1;
const S_WORDS = 2;
const S_DIGITS = 3;
const S_SYMBOLS = 4;
const S_HASH_ELLIPSIS = 5;
const S_LINES = 6;
const S_NONEMPTY_LINES = 7;
const S_DUP_LINES = 8;
const S_DUP_LINE_CHARS = 9;
const S_STOP_WORDS = 10;
const S_ALPHA_WORDS = 11;
const S_BULLET_LINES = 12;
const S_ELLIPSIS_LINES = 13;
const S_TOP_NGRAM = 14; // n = 2, 3, 4
const S_DUP_NGRAM = 17; // n = 5 .. 10
const STATS_COUNT = 23;

const stats = new StaticArray<f64>(STATS_COUNT);
let stopWords = new HashSet64(6);

/** Address of the statistics array (f64 x STATS_COUNT) filled by `qualityStats`. */
export function qualityStatsPtr(): usize {
  return changetype<usize>(stats);
}

/** Replaces the stop-word list with the LF-separated words at `p` (matched case-insensitively for ASCII). */
export function cleanSetStopWords(p: usize, len: i32): void {
  stopWords.free();
  stopWords = new HashSet64(6);
  const end = p + <usize>len;
  let start = p;
  for (let q = p; q <= end; q++) {
    if (q == end || load<u8>(q) == 0x0a) {
      if (q > start) stopWords.add(wordHash(start, q - start));
      start = q + 1;
    }
  }
}

// Growable scratch, kept between documents: per-word hashes and prefix sums of word lengths
// (characters), and an open-addressing table (keys, counts) for repeated lines and n-grams.
// Both grow with the words actually present, so memory follows the largest document seen.
let wordHashes: usize = 0; // u64 per word
let charsBefore: usize = 0; // i32 x (words + 1): characters in words 0 .. i-1
let wordCapacity: i32 = 0;
let tableKeys: usize = 0;
let tableCounts: usize = 0;
let tableGens: usize = 0; // generation that filled each slot: older ones count as empty
let generation: u32 = 0;
let tableCapacity: u32 = 0;
let tableMask: u32 = 0;
let tableSize: u32 = 0;

function growWords(): void {
  const cap = max(wordCapacity * 2, 1024);
  const hashBytes = <usize>cap << 3;
  const prefixBytes = <usize>(cap + 1) << 2;
  wordHashes = wordHashes ? heap.realloc(wordHashes, hashBytes) : heap.alloc(hashBytes);
  charsBefore = charsBefore ? heap.realloc(charsBefore, prefixBytes) : heap.alloc(prefixBytes);
  wordCapacity = cap;
}

function allocateTable(capacity: u32): void {
  tableKeys = heap.alloc(<usize>capacity << 3);
  tableCounts = heap.alloc(<usize>capacity << 2);
  tableGens = heap.alloc(<usize>capacity << 2);
  memory.fill(tableGens, 0, <usize>capacity << 2);
  tableCapacity = capacity;
  tableMask = capacity - 1;
}

/** Empties the table: a generation bump rather than a memory fill. */
function resetTable(): void {
  if (tableCapacity == 0) allocateTable(1024);
  tableSize = 0;
  generation++;
  if (generation == 0) {
    memory.fill(tableGens, 0, <usize>tableCapacity << 2);
    generation = 1;
  }
}

/** Doubles the table, keeping the current generation's entries. */
function growTable(): void {
  const oldKeys = tableKeys;
  const oldCounts = tableCounts;
  const oldGens = tableGens;
  const oldCapacity = tableCapacity;
  const oldGeneration = generation;
  allocateTable(oldCapacity * 2);
  generation = 1;
  for (let i: u32 = 0; i < oldCapacity; i++) {
    if (load<u32>(oldGens + (<usize>i << 2)) != oldGeneration) continue;
    const key = load<u64>(oldKeys + (<usize>i << 3));
    let j = <u32>key & tableMask;
    while (load<u32>(tableGens + (<usize>j << 2)) == generation) j = (j + 1) & tableMask;
    store<u32>(tableGens + (<usize>j << 2), generation);
    store<u64>(tableKeys + (<usize>j << 3), key);
    store<u32>(tableCounts + (<usize>j << 2), load<u32>(oldCounts + (<usize>i << 2)));
  }
  heap.free(oldKeys);
  heap.free(oldCounts);
  heap.free(oldGens);
}

/** Counts `key`; returns its count after this occurrence. Keys must have random low bits. */
function tableBump(key: u64): u32 {
  let i = <u32>key & tableMask;
  while (true) {
    const genAt = tableGens + (<usize>i << 2);
    const countAt = tableCounts + (<usize>i << 2);
    if (load<u32>(genAt) != generation) {
      store<u32>(genAt, generation);
      store<u64>(tableKeys + (<usize>i << 3), key);
      store<u32>(countAt, 1);
      if (++tableSize * 2 > tableCapacity) growTable();
      return 1;
    }
    if (load<u64>(tableKeys + (<usize>i << 3)) == key) {
      const c = load<u32>(countAt) + 1;
      store<u32>(countAt, c);
      return c;
    }
    i = (i + 1) & tableMask;
  }
}

@inline
function isSpace(b: u32): bool {
  return b == 0x20 || (b >= 0x09 && b <= 0x0d);
}

// N-gram hashes roll along the words: H(i) = sum over k < n of w[i+k] * ROLL^(n-1-k) (mod 2^64).
const ROLL: u64 = 0x9e3779b97f4a7c15;

@inline
function wordAt(i: i32): u64 {
  return load<u64>(wordHashes + (<usize>i << 3));
}

function gramAt(first: i32, n: i32): u64 {
  let h: u64 = 0;
  for (let k = 0; k < n; k++) h = h * ROLL + wordAt(first + k);
  return h;
}

/** Table key of a rolling hash: spreads the high bits into the low ones the table indexes by. */
@inline
function gramKey(h: u64): u64 {
  return h ^ (h >> 29) ^ (h >> 47);
}

@inline
function ngramChars(first: i32, n: i32): f64 {
  return <f64>(load<i32>(charsBefore + (<usize>(first + n) << 2)) - load<i32>(charsBefore + (<usize>first << 2)));
}

// Decodes the code point starting at `p` (input is valid UTF-8).
@inline
function codePointAt(p: usize, b0: u32): u32 {
  if (b0 < 0xe0) return ((b0 & 0x1f) << 6) | (<u32>load<u8>(p + 1) & 0x3f);
  if (b0 < 0xf0) return ((b0 & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f);
  return ((b0 & 0x07) << 18) | ((<u32>load<u8>(p + 1) & 0x3f) << 12) | ((<u32>load<u8>(p + 2) & 0x3f) << 6) | (<u32>load<u8>(p + 3) & 0x3f);
}

// Symbols and punctuation outside ASCII, approximately: general punctuation through
// miscellaneous symbols and arrows, CJK punctuation, full-width ASCII punctuation, emoji.
@inline
function isWideSymbol(c: u32): bool {
  return (c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff01 && c <= 0xff0f) || (c >= 0x1f000 && c <= 0x1faff);
}

/**
 * Fills the statistics array for the valid UTF-8 document at `p`. Characters are code points;
 * words are runs of non-whitespace; digits and symbols are counted among non-space characters.
 */
export function qualityStats(p: usize, len: i32): void {
  for (let i = 0; i < STATS_COUNT; i++) unchecked((stats[i] = 0));
  const end = p + <usize>len;
  if (wordCapacity == 0) growWords();
  store<i32>(charsBefore, 0);
  resetTable(); // line hashes
  let chars: i32 = 0;
  let nonspace: i32 = 0;
  let digits: i32 = 0;
  let symbols: i32 = 0;
  let hashEllipsis: i32 = 0;
  let words: i32 = 0;
  let alphaWords: i32 = 0;
  let stop: i32 = 0;
  let wordStart: usize = 0;
  let wordLen: i32 = 0;
  let wordHasAlpha = false;
  let h = FNV_OFFSET; // hash of the word so far
  let dots: i32 = 0;
  // The current line, as the sequence of its words (so surrounding and inner spacing do not matter).
  let lines: i32 = 0;
  let nonEmptyLines: i32 = 0;
  let dupLines: i32 = 0;
  let dupLineChars: i32 = 0;
  let bullets: i32 = 0;
  let ellipses: i32 = 0;
  let lineHash = FNV_OFFSET;
  let lineWords: i32 = 0;
  let lineChars: i32 = 0;
  let lastWordStart: usize = 0;
  let lastWordEnd: usize = 0;
  for (let q = p; q <= end; ) {
    const b: u32 = q < end ? <u32>load<u8>(q) : 0x0a;
    if (isSpace(b)) {
      if (wordLen > 0) {
        const wh = avalanche(h);
        if (words == wordCapacity) growWords();
        store<u64>(wordHashes + (<usize>words << 3), wh);
        store<i32>(charsBefore + (<usize>(words + 1) << 2), load<i32>(charsBefore + (<usize>words << 2)) + wordLen);
        words++;
        if (wordHasAlpha) alphaWords++;
        if (stopWords.size > 0 && stopWords.has(wh)) stop++;
        if (lineWords == 0 && isBullet(wordStart)) bullets++;
        lineHash = (lineHash ^ wh) * FNV_PRIME;
        lineWords++;
        lineChars += wordLen;
        lastWordStart = wordStart;
        lastWordEnd = q;
        wordLen = 0;
        wordHasAlpha = false;
        h = FNV_OFFSET;
      }
      if (b == 0x0a) {
        lines++;
        if (lineWords > 0) {
          nonEmptyLines++;
          if (tableBump(avalanche(lineHash ^ <u64>lineWords)) > 1) {
            dupLines++;
            dupLineChars += lineChars;
          }
          if (endsWithEllipsis(lastWordStart, lastWordEnd)) ellipses++;
        }
        lineHash = FNV_OFFSET;
        lineWords = 0;
        lineChars = 0;
      }
      dots = 0;
      if (q < end) chars++;
      q++;
      continue;
    }
    if (wordLen == 0) wordStart = q;
    wordLen++;
    chars++;
    nonspace++;
    if (b < 0x80) {
      h = (h ^ <u64>(b - 0x41 < 26 ? b | 0x20 : b)) * FNV_PRIME;
      if (b - 0x30 < 10) digits++;
      else if ((b | 0x20) - 0x61 < 26) wordHasAlpha = true;
      else {
        symbols++;
        if (b == 0x23) hashEllipsis++;
      }
      if (b == 0x2e) {
        if (++dots == 3) hashEllipsis++;
      } else dots = 0;
      q++;
    } else {
      dots = 0;
      const n: usize = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
      for (let k: usize = 0; k < n; k++) h = (h ^ <u64>load<u8>(q + k)) * FNV_PRIME;
      const c = codePointAt(q, b);
      if (isWideSymbol(c)) {
        symbols++;
        if (c == 0x2026) hashEllipsis++;
      } else wordHasAlpha = true; // other non-ASCII: letters of other scripts, approximately
      q += n;
    }
  }
  unchecked((stats[S_CHARS] = chars));
  unchecked((stats[S_NONSPACE] = nonspace));
  unchecked((stats[S_WORDS] = words));
  unchecked((stats[S_DIGITS] = digits));
  unchecked((stats[S_SYMBOLS] = symbols));
  unchecked((stats[S_HASH_ELLIPSIS] = hashEllipsis));
  unchecked((stats[S_STOP_WORDS] = stop));
  unchecked((stats[S_ALPHA_WORDS] = alphaWords));
  unchecked((stats[S_LINES] = lines));
  unchecked((stats[S_NONEMPTY_LINES] = nonEmptyLines));
  unchecked((stats[S_DUP_LINES] = dupLines));
  unchecked((stats[S_DUP_LINE_CHARS] = dupLineChars));
  unchecked((stats[S_BULLET_LINES] = bullets));
  unchecked((stats[S_ELLIPSIS_LINES] = ellipses));
  ngramStats(words);
}

// A line starting with '-', '*' or U+2022 BULLET (E2 80 A2).
@inline
function isBullet(s: usize): bool {
  const first = <u32>load<u8>(s);
  return first == 0x2d || first == 0x2a || (first == 0xe2 && load<u8>(s + 1) == 0x80 && load<u8>(s + 2) == 0xa2);
}

// A line whose last word (s..e) ends with "..." or U+2026 (E2 80 A6).
@inline
function endsWithEllipsis(s: usize, e: usize): bool {
  if (e - s < 3) return false;
  const last = <u32>load<u8>(e - 1);
  if (last == 0x2e) return load<u8>(e - 2) == 0x2e && load<u8>(e - 3) == 0x2e;
  return last == 0xa6 && load<u8>(e - 2) == 0x80 && load<u8>(e - 3) == 0xe2;
}

// Gopher's repetition measures over word n-grams: characters in the most frequent 2-, 3-, 4-gram
// (count x its characters, when it occurs more than once), and characters in n-grams (n = 5..10)
// that repeat an earlier one, stepping past each repeat so no word is counted twice.
function ngramStats(words: i32): void {
  for (let n = 2; n <= 4; n++) {
    if (words < n) break;
    resetTable();
    let top: u64 = 1; // ROLL^(n-1): weight of the word that leaves the window
    for (let k = 1; k < n; k++) top *= ROLL;
    let h = gramAt(0, n);
    let bestCount: u32 = 1;
    let bestFirst: i32 = -1;
    for (let i = 0; i + n <= words; i++) {
      const c = tableBump(gramKey(h));
      if (c > bestCount) {
        bestCount = c;
        bestFirst = i;
      }
      if (i + n < words) h = (h - wordAt(i) * top) * ROLL + wordAt(i + n);
    }
    if (bestFirst >= 0) unchecked((stats[S_TOP_NGRAM + n - 2] = <f64>bestCount * ngramChars(bestFirst, n)));
  }
  for (let n = 5; n <= 10; n++) {
    if (words < n) break;
    resetTable();
    let top: u64 = 1;
    for (let k = 1; k < n; k++) top *= ROLL;
    let repeated: f64 = 0;
    let i = 0;
    let h = gramAt(0, n);
    while (i + n <= words) {
      if (tableBump(gramKey(h)) > 1) {
        repeated += ngramChars(i, n);
        i += n;
        if (i + n <= words) h = gramAt(i, n);
      } else {
        if (i + n < words) h = (h - wordAt(i) * top) * ROLL + wordAt(i + n);
        i++;
      }
    }
    unchecked((stats[S_DUP_NGRAM + n - 5] = repeated));
  }
}
