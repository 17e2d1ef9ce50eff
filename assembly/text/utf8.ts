// UTF-8 validation and repair for streamed input. Follows the WHATWG decoder: each maximal
// subpart of an ill-formed sequence is one error (one U+FFFD when repairing), so counts and
// offsets agree with what TextDecoder would replace.

/** Most error offsets remembered per call; the count goes on past it. */
const MAX_ERROR_OFFSETS: i32 = 64;

let errorCount: i32 = 0;
let outLength: i32 = 0;
const errorOffsets = new StaticArray<i32>(MAX_ERROR_OFFSETS);

/** Errors found by the last `utf8Check`. */
export function utf8ErrorCount(): i32 {
  return errorCount;
}

/** Offset (relative to the checked bytes) of the `i`-th error of the last call, i < min(count, 64). */
export function utf8ErrorOffset(i: i32): i32 {
  return unchecked(errorOffsets[i]);
}

/** Bytes written to `dst` by the last repairing `utf8Check`. */
export function utf8OutLength(): i32 {
  return outLength;
}

// Length of the well-formed sequence starting at `p` (1..4), or minus the length of the
// maximal ill-formed subpart (-1..-3), or 0 when the bytes end inside a sequence that could still be valid.
@inline
function sequenceAt(p: usize, end: usize): i32 {
  const b0 = <u32>load<u8>(p);
  let need: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 == 0xe0) lo = 0xa0;
    else if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 == 0xf0) lo = 0x90;
    else if (b0 == 0xf4) hi = 0x8f;
  } else return -1;
  for (let k: i32 = 1; k <= need; k++) {
    if (p + <usize>k >= end) return 0;
    const b = <u32>load<u8>(p + <usize>k);
    if (b < lo || b > hi) return -k;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/**
 * Checks `len` bytes at `src`. Returns how many bytes were consumed: all of them, except a
 * sequence cut off by the end of the chunk when `isFinal` is false (the caller carries it over),
 * or, when not repairing, the bytes before the first error (then `utf8ErrorCount()` is 1).
 * When `repair` is set, writes the bytes to `dst` (room for 3 * len) with each error replaced by U+FFFD.
 */
export function utf8Check(src: usize, len: i32, dst: usize, repair: bool, isFinal: bool): i32 {
  errorCount = 0;
  outLength = 0;
  const end = src + <usize>len;
  let p = src;
  let q = dst;
  while (p < end) {
    // Fast path: eight ASCII bytes at a time.
    if (p + 8 <= end && (load<u64>(p) & 0x8080808080808080) == 0) {
      if (repair) store<u64>(q, load<u64>(p));
      p += 8;
      q += 8;
      continue;
    }
    let n = sequenceAt(p, end);
    if (n == 0) {
      if (!isFinal) break;
      n = -<i32>(end - p); // a truncated sequence at the very end is one error
    }
    if (n > 0) {
      if (repair) memory.copy(q, p, <usize>n);
      p += <usize>n;
      q += <usize>n;
      continue;
    }
    if (errorCount < MAX_ERROR_OFFSETS) unchecked((errorOffsets[errorCount] = <i32>(p - src)));
    errorCount++;
    if (!repair) break;
    store<u8>(q, 0xef);
    store<u8>(q + 1, 0xbf);
    store<u8>(q + 2, 0xbd);
    q += 3;
    p += <usize>-n;
  }
  if (repair) outLength = <i32>(q - dst);
  return <i32>(p - src);
}
