// Character classes (from the generated unicode_tables.ts) and UTF-8 decoding helpers.
import { CLASS_STARTS, CLASS_BITS } from './unicode_tables';
export { LETTER, NUMBER, JS_SPACE, WHITE_SPACE, PUNCTUATION, OTHER } from './unicode_tables';

// Direct lookup for the Basic Multilingual Plane (almost all text); binary search above it.
const BMP_CLASSES = new StaticArray<u8>(0x10000);
let bmpReady = false;

function fillBmp(): void {
  const n = CLASS_STARTS.length;
  for (let i = 0; i < n; i++) {
    const start = unchecked(CLASS_STARTS[i]);
    if (start >= 0x10000) break;
    const end = i + 1 < n ? min<u32>(unchecked(CLASS_STARTS[i + 1]), 0x10000) : 0x10000;
    const bits = unchecked(CLASS_BITS[i]);
    for (let cp = start; cp < end; cp++) unchecked((BMP_CLASSES[cp] = bits));
  }
  bmpReady = true;
}

/** Class bits (LETTER | NUMBER | ...) of a code point. */
// @ts-ignore: decorator
@inline
export function classOf(cp: u32): u8 {
  if (cp < 0x10000) {
    if (!bmpReady) fillBmp();
    return unchecked(BMP_CLASSES[cp]);
  }
  return classAbove(cp);
}

function classAbove(cp: u32): u8 {
  let lo = 0;
  let hi = CLASS_STARTS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (unchecked(CLASS_STARTS[mid]) <= cp) lo = mid;
    else hi = mid - 1;
  }
  return unchecked(CLASS_BITS[lo]);
}

/** Length in bytes of the UTF-8 sequence starting with byte `b` (1 for stray continuation bytes). */
// @ts-ignore: decorator
@inline
export function utf8Length(b: u32): i32 {
  if (b < 0xc0) return 1;
  if (b < 0xe0) return 2;
  if (b < 0xf0) return 3;
  return 4;
}

/** Code point at `p` (valid UTF-8 of `len` bytes, as TextEncoder writes it). */
// @ts-ignore: decorator
@inline
export function decodeAt(p: usize, len: i32): u32 {
  const b0 = <u32>load<u8>(p);
  if (len == 1) return b0;
  if (len == 2) return ((b0 & 0x1f) << 6) | (<u32>load<u8>(p, 1) & 0x3f);
  if (len == 3) return ((b0 & 0x0f) << 12) | ((<u32>load<u8>(p, 1) & 0x3f) << 6) | (<u32>load<u8>(p, 2) & 0x3f);
  return ((b0 & 0x07) << 18) | ((<u32>load<u8>(p, 1) & 0x3f) << 12) | ((<u32>load<u8>(p, 2) & 0x3f) << 6) | (<u32>load<u8>(p, 3) & 0x3f);
}

/** Class bits of every code point in [start, end) into out (one byte each): lets tests compare with JS. */
export function unicodeClasses(start: u32, end: u32, out: usize): void {
  for (let cp = start; cp < end; cp++) store<u8>(out + (cp - start), classOf(cp));
}
