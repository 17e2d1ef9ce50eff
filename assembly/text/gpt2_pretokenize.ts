// GPT-2's pre-tokenisation regex, as a hand-written scanner over UTF-8:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s as JavaScript defines it (the classes come from JS's own regex tables).
import { classOf, decodeAt, utf8Length, LETTER, NUMBER, JS_SPACE } from './unicode';

// @ts-ignore: decorator
@inline
function classAt(p: usize, end: usize): u32 {
  const b = <u32>load<u8>(p);
  if (b < 0x80) return classOf(b);
  const len = min<i32>(utf8Length(b), <i32>(end - p));
  return classOf(decodeAt(p, len));
}

// @ts-ignore: decorator
@inline
function charLength(p: usize, end: usize): usize {
  return <usize>min<i32>(utf8Length(<u32>load<u8>(p)), <i32>(end - p));
}

/** Advances over characters whose class has any of `want` bits set (or, with `invert`, none of them). */
// @ts-ignore: decorator
@inline
function skipWhile(p: usize, end: usize, want: u32, invert: bool): usize {
  while (p < end) {
    const has = (classAt(p, end) & want) != 0;
    if (has == invert) break;
    p += charLength(p, end);
  }
  return p;
}

/** End of the pre-token that starts at `p` (p < end). */
export function gpt2PretokenEnd(p: usize, end: usize): usize {
  const b = <u32>load<u8>(p);
  if (b == 0x27 && p + 1 < end) {
    // Contractions, case-sensitive as in GPT-2.
    const c1 = <u32>load<u8>(p, 1);
    if (c1 == 0x73 || c1 == 0x74 || c1 == 0x6d || c1 == 0x64) return p + 2; // s t m d
    if (p + 2 < end) {
      const c2 = <u32>load<u8>(p, 2);
      if ((c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6c && c2 == 0x6c)) return p + 3; // re ve ll
    }
  }
  let q = p;
  if (b == 0x20 && p + 1 < end) q = p + 1; // the optional leading space of the next three alternatives
  const cls = classAt(q, end);
  if (cls & LETTER) return skipWhile(q, end, LETTER, false);
  if (cls & NUMBER) return skipWhile(q, end, NUMBER, false);
  if (!(cls & JS_SPACE)) return skipWhile(q, end, LETTER | NUMBER | JS_SPACE, true);
  // Whitespace: the run, minus its last character when a non-space follows and the run is longer than one.
  let last = p;
  let r = p;
  while (r < end && classAt(r, end) & JS_SPACE) {
    last = r;
    r += charLength(r, end);
  }
  if (r < end && last > p) return last;
  return r;
}
