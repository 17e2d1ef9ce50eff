// Privacy scrubbing: e-mail addresses, phone numbers, IPv4/IPv6 addresses and card-like numbers
// (13-19 digits passing the Luhn check) become <EMAIL>, <PHONE>, <IP>, <CARD>. One forward pass
// with hand-written matchers; a match must start and end at a word boundary so that digits
// inside longer tokens (versions, decimals, identifiers) are left alone.

const SCRUB_EMAIL: i32 = 1;
const SCRUB_PHONE: i32 = 2;
const SCRUB_IP: i32 = 4;
const SCRUB_CARD: i32 = 8;

const KIND_EMAIL = 0;
const KIND_PHONE = 1;
const KIND_IP = 2;
const KIND_CARD = 3;

const counts = new StaticArray<i32>(4);

/** Matches of kind 0 e-mail, 1 phone, 2 IP, 3 card in the last `scrubPii`. */
export function scrubCount(kind: i32): i32 {
  return unchecked(counts[kind]);
}

@inline
function isDigit(b: u32): bool {
  return b - 0x30 < 10;
}

@inline
function isAlpha(b: u32): bool {
  return (b | 0x20) - 0x61 < 26;
}

@inline
function isHex(b: u32): bool {
  return isDigit(b) || (b | 0x20) - 0x61 < 6;
}

/** Letters, digits, and any non-ASCII byte (letters of other scripts). */
@inline
function isWordByte(b: u32): bool {
  return isDigit(b) || isAlpha(b) || b >= 0x80 || b == 0x5f;
}

@inline
function byteAt(p: usize, end: usize): u32 {
  return p < end ? <u32>load<u8>(p) : 0;
}

// A match may end at `e` when the next byte does not continue a word, an address, or a number.
function endsCleanly(e: usize, end: usize): bool {
  const b = byteAt(e, end);
  if (isWordByte(b) || b == 0x40) return false;
  if ((b == 0x2e || b == 0x2c || b == 0x2d) && isDigit(byteAt(e + 1, end))) return false;
  return true;
}

// ---- e-mail -------------------------------------------------------------------------------

@inline
function isLocalByte(b: u32): bool {
  return isDigit(b) || isAlpha(b) || b >= 0x80 || b == 0x2e || b == 0x5f || b == 0x25 || b == 0x2b || b == 0x2d;
}

let matchStart: usize = 0;

/** E-mail around the '@' at `at`, not reaching back before `floor`; returns its end or 0 (start in matchStart). */
function matchEmail(at: usize, floor: usize, end: usize): usize {
  let s = at;
  while (s > floor && isLocalByte(<u32>load<u8>(s - 1))) s--;
  while (s < at && load<u8>(s) == 0x2e) s++;
  if (s == at || load<u8>(at - 1) == 0x2e) return 0;
  // Domain: labels of letters (any script), digits and '-', separated by single dots; the last is 2+ letters.
  let e = at + 1;
  let lastDot: usize = 0;
  let labelLen = 0;
  let p = e;
  while (p < end) {
    const b = <u32>load<u8>(p);
    if (isDigit(b) || isAlpha(b) || b >= 0x80 || b == 0x2d) {
      labelLen++;
    } else if (b == 0x2e && labelLen > 0 && isWordByte(byteAt(p + 1, end))) {
      lastDot = p;
      labelLen = 0;
    } else break;
    p++;
  }
  e = p;
  if (lastDot == 0) return 0;
  for (let q = lastDot + 1; q < e; q++) {
    const b = <u32>load<u8>(q);
    if (!isAlpha(b) && b < 0x80) return 0;
  }
  if (e - lastDot - 1 < 2 || isWordByte(byteAt(e, end))) return 0;
  matchStart = s;
  return e;
}

// ---- numbers ----------------------------------------------------------------------------

const MAX_GROUPS = 8;
const groupEnd = new StaticArray<usize>(MAX_GROUPS); // position after each digit group
const groupLen = new StaticArray<i32>(MAX_GROUPS);
const groupSep = new StaticArray<u32>(MAX_GROUPS); // separator before each group (0: none)
const groupParen = new StaticArray<bool>(MAX_GROUPS);
let groupCount = 0;

/** Splits digit groups joined by single ' ', '-', '.' (or a parenthesised group, for phones). */
function scanGroups(p: usize, end: usize, allowParen: bool): void {
  groupCount = 0;
  let sep: u32 = 0;
  while (groupCount < MAX_GROUPS) {
    let paren = false;
    let q = p;
    if (allowParen && byteAt(q, end) == 0x28) {
      paren = true;
      q++;
    }
    const start = q;
    while (isDigit(byteAt(q, end))) q++;
    const digits = <i32>(q - start);
    if (digits == 0 || digits > 19) return;
    if (paren) {
      if (byteAt(q, end) != 0x29) return;
      q++;
    }
    unchecked((groupEnd[groupCount] = q));
    unchecked((groupLen[groupCount] = digits));
    unchecked((groupSep[groupCount] = sep));
    unchecked((groupParen[groupCount] = paren));
    groupCount++;
    const b = byteAt(q, end);
    const next = byteAt(q + 1, end);
    const startsGroup = isDigit(next) || (allowParen && next == 0x28);
    if ((b == 0x20 || b == 0x2d || b == 0x2e) && startsGroup) {
      sep = b;
      p = q + 1;
    } else if (paren && isDigit(b)) {
      sep = 0x29;
      p = q;
    } else return;
  }
}

function luhn(s: usize, e: usize): bool {
  let sum: u32 = 0;
  let double = false;
  for (let q = e; q > s; q--) {
    const b = <u32>load<u8>(q - 1);
    if (!isDigit(b)) continue;
    let d = b - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 == 0;
}

/** Card-like number at `s`: 13-19 digits in groups split by spaces or dashes, Luhn-valid. Returns its end or 0. */
function matchCard(s: usize, end: usize): usize {
  scanGroups(s, end, false);
  // Cards are grouped by spaces or dashes; a dot ends the number.
  for (let k = 1; k < groupCount; k++) {
    if (unchecked(groupSep[k]) == 0x2e) {
      groupCount = k;
      break;
    }
  }
  let digits = 0;
  for (let k = 0; k < groupCount; k++) digits += unchecked(groupLen[k]);
  // Longest prefix of groups that forms a card.
  for (let k = groupCount - 1; k >= 0; k--) {
    const e = unchecked(groupEnd[k]);
    if (digits >= 13 && digits <= 19 && endsCleanly(e, end) && luhn(s, e)) return e;
    digits -= unchecked(groupLen[k]);
  }
  return 0;
}

/** Dotted quad at `s` with each part 0..255. Returns its end or 0. */
function matchIpv4(s: usize, end: usize): usize {
  let p = s;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (byteAt(p, end) != 0x2e) return 0;
      p++;
    }
    let value: u32 = 0;
    const start = p;
    while (p - start < 3 && isDigit(byteAt(p, end))) value = value * 10 + (<u32>load<u8>(p++) - 0x30);
    if (p == start || value > 255 || isDigit(byteAt(p, end))) return 0;
  }
  return endsCleanly(p, end) ? p : 0;
}

/** IPv6 address at `s` (eight hex groups, or fewer with one '::', optionally ending in a dotted quad). */
function matchIpv6(s: usize, end: usize): usize {
  let p = s;
  while (p < end) {
    const b = <u32>load<u8>(p);
    if (!(isHex(b) || b == 0x3a || b == 0x2e)) break;
    p++;
  }
  let e = p;
  while (e > s && load<u8>(e - 1) == 0x2e) e--;
  // A single trailing ':' is punctuation, not part of the address.
  if (e - s >= 2 && load<u8>(e - 1) == 0x3a && load<u8>(e - 2) != 0x3a) e--;
  if (isWordByte(byteAt(e, end))) return 0;
  let groups = 0;
  let colons = 0;
  let compressed = false;
  let q = s;
  if (e - s >= 2 && load<u8>(q) == 0x3a && load<u8>(q + 1) == 0x3a) {
    compressed = true;
    colons = 2;
    q += 2;
  } else if (byteAt(q, e) == 0x3a) return 0;
  while (q < e) {
    const start = q;
    let dotted = false;
    while (q < e && load<u8>(q) != 0x3a) {
      if (load<u8>(q) == 0x2e) dotted = true;
      q++;
    }
    if (dotted) {
      // Embedded IPv4: must be the last part and count for two groups.
      if (q != e || matchIpv4(start, e) != e) return 0;
      groups += 2;
      break;
    }
    if (q - start < 1 || q - start > 4) return 0;
    groups++;
    if (q < e) {
      colons++;
      q++;
      if (q < e && load<u8>(q) == 0x3a) {
        if (compressed) return 0;
        compressed = true;
        colons++;
        q++;
      } else if (q == e) return 0;
    }
  }
  if (colons < 2 || groups == 0) return 0;
  if (compressed ? groups > 7 : groups != 8) return 0;
  return e;
}

/**
 * Phone number at `s`: international (+CC and 8-15 digits), North American ([1] 3-3-4 with one
 * kind of separator or a parenthesised area code, or 3-4 with a dash), or national with a leading
 * 0 (9-11 digits in 2+ groups). Plain digit runs are not phones. Returns its end or 0.
 */
function matchPhone(s: usize, end: usize): usize {
  const plus = load<u8>(s) == 0x2b;
  scanGroups(plus ? s + 1 : s, end, true);
  for (let k = groupCount; k >= 1; k--) {
    const e = unchecked(groupEnd[k - 1]);
    if (!endsCleanly(e, end)) continue;
    if (phoneShape(plus, k, s)) return e;
  }
  return 0;
}

function phoneShape(plus: bool, n: i32, s: usize): bool {
  let digits = 0;
  for (let k = 0; k < n; k++) digits += unchecked(groupLen[k]);
  if (plus) return digits >= 8 && digits <= 15 && (n >= 2 ? unchecked(groupLen[0]) <= 3 : true);
  // One separator kind throughout (a parenthesised area code may be followed by a space or nothing).
  let sep: u32 = 0;
  for (let k = 1; k < n; k++) {
    let g = unchecked(groupSep[k]);
    if (unchecked(groupParen[k - 1]) && (g == 0x20 || g == 0x29)) continue;
    if (sep == 0) sep = g;
    else if (g != sep) return false;
  }
  const first = unchecked(groupLen[0]);
  for (let k = 0; k < n; k++) if (unchecked(groupParen[k]) && !(groupLen[k] == 3 && k == n - 3)) return false;
  if (n == 3 && first == 3 && groupLen[1] == 3 && groupLen[2] == 4) return true;
  if (n == 4 && first == 1 && load<u8>(s) == 0x31 && groupLen[1] == 3 && groupLen[2] == 3 && groupLen[3] == 4) return true;
  if (n == 2 && first == 3 && groupLen[1] == 4 && sep == 0x2d) return true;
  if (n >= 2 && load<u8>(s) == 0x30 && digits >= 9 && digits <= 11 && sep != 0x2e) {
    for (let k = 0; k < n; k++) if (unchecked(groupLen[k]) < 2) return false;
    return true;
  }
  return false;
}

// ---- the pass -----------------------------------------------------------------------------

@inline
function writePlaceholder(q: usize, kind: i32): usize {
  const text = kind == KIND_EMAIL ? '<EMAIL>' : kind == KIND_PHONE ? '<PHONE>' : kind == KIND_IP ? '<IP>' : '<CARD>';
  for (let i = 0; i < text.length; i++) store<u8>(q + <usize>i, <u8>text.charCodeAt(i));
  return q + <usize>text.length;
}

/**
 * Copies `len` bytes from `src` to `dst` (room for 2 * len + 16) with the kinds in `kinds`
 * (SCRUB_* bits) replaced by placeholders. Returns the output length; counts via `scrubCount`.
 */
export function scrubPii(src: usize, len: i32, dst: usize, kinds: i32): i32 {
  for (let k = 0; k < 4; k++) unchecked((counts[k] = 0));
  const end = src + <usize>len;
  let copied = src; // input before this is already in the output
  let q = dst;
  let i = src;
  while (i < end) {
    const b = <u32>load<u8>(i);
    let s = i;
    let e: usize = 0;
    let kind = -1;
    if (b == 0x40) {
      if (kinds & SCRUB_EMAIL) {
        e = matchEmail(i, copied, end);
        if (e) {
          s = matchStart;
          kind = KIND_EMAIL;
        }
      }
    } else if (isHex(b) || b == 0x2b || b == 0x28 || b == 0x3a) {
      const prev = i > src ? <u32>load<u8>(i - 1) : 0x20;
      const prev2 = i > src + 1 ? <u32>load<u8>(i - 2) : 0x20;
      // Not inside a number ("3.14159", "1,234") or an address ("fe80:...") that did not match.
      const atBoundary =
        !isWordByte(prev) && prev != 0x2b && !((prev == 0x2e || prev == 0x2c || prev == 0x2d) && isDigit(prev2)) && !(prev == 0x3a && isHex(prev2));
      if (atBoundary) {
        if (isDigit(b) && kinds & SCRUB_CARD && (e = matchCard(i, end))) kind = KIND_CARD;
        else if (isDigit(b) && kinds & SCRUB_IP && (e = matchIpv4(i, end))) kind = KIND_IP;
        else if (b != 0x2b && b != 0x28 && kinds & SCRUB_IP && (e = matchIpv6(i, end))) kind = KIND_IP;
        else if (!isAlpha(b) && b != 0x3a && kinds & SCRUB_PHONE && (e = matchPhone(i, end))) kind = KIND_PHONE;
      }
    }
    if (kind < 0) {
      i++;
      continue;
    }
    memory.copy(q, copied, s - copied);
    q = writePlaceholder(q + (s - copied), kind);
    unchecked((counts[kind] += 1));
    copied = e;
    i = e;
  }
  memory.copy(q, copied, end - copied);
  q += end - copied;
  return <i32>(q - dst);
}
