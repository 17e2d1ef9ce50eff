// Text form of 32-bit floats, as KenLM writes and reads them.
// Writing: the shortest decimal that reads back as the same float (KenLM uses double-conversion's
// ToShortestSingle), found with the Ryu algorithm (Adams, PLDI 2018), laid out like double-conversion
// with decimal_in_shortest_low = -6 and high = 21: "-0.30103", "-99", "1.5e-7".
// Reading: decimal -> nearest float, including the rare case where rounding through f64 would land
// on a tie between two floats.
import { Buf } from './buffer';

// Ryu's tables for floats: POW5_INV[i] = floor(2^(bitlength(5^i) - 1 + 59) / 5^i) + 1 and
// POW5[i] = 5^i scaled to 61 significant bits; generated with exact integer arithmetic.
const POW5_INV: StaticArray<u64> = [
  576460752303423489, 461168601842738791, 368934881474191033, 295147905179352826,
  472236648286964522, 377789318629571618, 302231454903657294, 483570327845851670,
  386856262276681336, 309485009821345069, 495176015714152110, 396140812571321688,
  316912650057057351, 507060240091291761, 405648192073033409, 324518553658426727,
  519229685853482763, 415383748682786211, 332306998946228969, 531691198313966350,
  425352958651173080, 340282366920938464, 544451787073501542, 435561429658801234,
  348449143727040987, 557518629963265579, 446014903970612463, 356811923176489971,
  570899077082383953, 456719261665907162, 365375409332725730,
];
const POW5: StaticArray<u64> = [
  1152921504606846976, 1441151880758558720, 1801439850948198400, 2251799813685248000,
  1407374883553280000, 1759218604441600000, 2199023255552000000, 1374389534720000000,
  1717986918400000000, 2147483648000000000, 1342177280000000000, 1677721600000000000,
  2097152000000000000, 1310720000000000000, 1638400000000000000, 2048000000000000000,
  1280000000000000000, 1600000000000000000, 2000000000000000000, 1250000000000000000,
  1562500000000000000, 1953125000000000000, 1220703125000000000, 1525878906250000000,
  1907348632812500000, 1192092895507812500, 1490116119384765625, 1862645149230957031,
  1164153218269348144, 1455191522836685180, 1818989403545856475, 2273736754432320594,
  1421085471520200371, 1776356839400250464, 2220446049250313080, 1387778780781445675,
  1734723475976807094, 2168404344971008868, 1355252715606880542, 1694065894508600678,
  2117582368135750847, 1323488980084844279, 1654361225106055349, 2067951531382569187,
  1292469707114105741, 1615587133892632177, 2019483917365790221, 1262177448353618888,
];

@inline function pow5bits(e: i32): i32 {
  return <i32>((<u32>e * 1217359) >> 19) + 1;
}

@inline function log10Pow2(e: i32): i32 {
  return <i32>((<u32>e * 78913) >> 18);
}

@inline function log10Pow5(e: i32): i32 {
  return <i32>((<u32>e * 732923) >> 20);
}

function pow5Factor(v: u32): i32 {
  let c = 0;
  while (v % 5 == 0) {
    v /= 5;
    c++;
  }
  return c;
}

@inline function mulShift(m: u32, factor: u64, shift: i32): u32 {
  const low = (<u64>m) * (factor & 0xffffffff);
  const high = (<u64>m) * (factor >> 32);
  return <u32>(((low >> 32) + high) >> <u64>(shift - 32));
}

function decimalLength(v: u32): i32 {
  let n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/** Longest text writeF32To produces ("-1.2345678e-38"), with room to spare. */
export const F32_TEXT_MAX: usize = 24;

/** Appends the shortest round-tripping decimal form of `x`. */
export function writeF32(out: Buf, x: f32): void {
  out.ensure(F32_TEXT_MAX);
  out.len = writeF32To(out.ptr + out.len, x) - out.ptr;
}

@inline function putAscii(p: usize, s: string): usize {
  for (let i = 0; i < s.length; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return p + <usize>s.length;
}

/** Writes the shortest round-tripping decimal form of `x` at `p` (F32_TEXT_MAX bytes free); returns the end. */
export function writeF32To(p: usize, x: f32): usize {
  const bits = reinterpret<u32>(x);
  const negative = (bits >> 31) != 0;
  const ieeeMantissa = bits & 0x7fffff;
  const ieeeExponent = <i32>((bits >> 23) & 0xff);
  if (ieeeExponent == 255) {
    if (ieeeMantissa != 0) return putAscii(p, 'NaN');
    return putAscii(p, negative ? '-inf' : 'inf');
  }
  if (negative) {
    store<u8>(p, 45);
    p++;
  }
  if (ieeeExponent == 0 && ieeeMantissa == 0) {
    store<u8>(p, 48);
    return p + 1;
  }

  let e2: i32;
  let m2: u32;
  if (ieeeExponent == 0) {
    e2 = 1 - 127 - 23 - 2;
    m2 = ieeeMantissa;
  } else {
    e2 = ieeeExponent - 127 - 23 - 2;
    m2 = (1 << 23) | ieeeMantissa;
  }
  const acceptBounds = (m2 & 1) == 0;
  const mv = 4 * m2;
  const mp = 4 * m2 + 2;
  const mmShift: u32 = ieeeMantissa != 0 || ieeeExponent <= 1 ? 1 : 0;
  const mm = 4 * m2 - 1 - mmShift;

  let vr: u32, vp: u32, vm: u32;
  let e10: i32;
  let vmIsTrailingZeros = false;
  let vrIsTrailingZeros = false;
  let lastRemovedDigit: u32 = 0;
  if (e2 >= 0) {
    const q = log10Pow2(e2);
    e10 = q;
    const k = 59 + pow5bits(q) - 1;
    const i = -e2 + q + k;
    const f = unchecked(POW5_INV[q]);
    vr = mulShift(mv, f, i);
    vp = mulShift(mp, f, i);
    vm = mulShift(mm, f, i);
    if (q != 0 && (vp - 1) / 10 <= vm / 10) {
      const l = 59 + pow5bits(q - 1) - 1;
      lastRemovedDigit = mulShift(mv, unchecked(POW5_INV[q - 1]), -e2 + q - 1 + l) % 10;
    }
    if (q <= 9) {
      if (mv % 5 == 0) vrIsTrailingZeros = pow5Factor(mv) >= q;
      else if (acceptBounds) vmIsTrailingZeros = pow5Factor(mm) >= q;
      else vp -= pow5Factor(mp) >= q ? 1 : 0;
    }
  } else {
    const q = log10Pow5(-e2);
    e10 = q + e2;
    const i = -e2 - q;
    const k = pow5bits(i) - 61;
    let j = q - k;
    const f = unchecked(POW5[i]);
    vr = mulShift(mv, f, j);
    vp = mulShift(mp, f, j);
    vm = mulShift(mm, f, j);
    if (q != 0 && (vp - 1) / 10 <= vm / 10) {
      j = q - 1 - (pow5bits(i + 1) - 61);
      lastRemovedDigit = mulShift(mv, unchecked(POW5[i + 1]), j) % 10;
    }
    if (q <= 1) {
      vrIsTrailingZeros = true;
      if (acceptBounds) vmIsTrailingZeros = mmShift == 1;
      else vp--;
    } else if (q < 31) {
      vrIsTrailingZeros = (mv & ((1 << (q - 1)) - 1)) == 0;
    }
  }

  let removed = 0;
  let output: u32;
  if (vmIsTrailingZeros || vrIsTrailingZeros) {
    while (vp / 10 > vm / 10) {
      vmIsTrailingZeros = vmIsTrailingZeros && vm % 10 == 0;
      vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0;
      lastRemovedDigit = vr % 10;
      vr /= 10;
      vp /= 10;
      vm /= 10;
      removed++;
    }
    if (vmIsTrailingZeros) {
      while (vm % 10 == 0) {
        vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0;
        lastRemovedDigit = vr % 10;
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
      }
    }
    if (vrIsTrailingZeros && lastRemovedDigit == 5 && vr % 2 == 0) lastRemovedDigit = 4;
    output = vr + ((vr == vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5 ? 1 : 0);
  } else {
    while (vp / 10 > vm / 10) {
      lastRemovedDigit = vr % 10;
      vr /= 10;
      vp /= 10;
      vm /= 10;
      removed++;
    }
    output = vr + (vr == vm || lastRemovedDigit >= 5 ? 1 : 0);
  }
  return layoutDecimal(p, output, e10 + removed);
}

/** Writes digits * 10^exponent in fixed notation for decimal exponents -6..20, else as 1.5e-7. */
function layoutDecimal(start: usize, digits: u32, exponent: i32): usize {
  const length = decimalLength(digits);
  // Digits first, most significant first.
  let d = digits;
  for (let i = length - 1; i >= 0; i--) {
    store<u8>(start + <usize>i, <u8>(48 + d % 10));
    d /= 10;
  }
  const point = length + exponent; // digits before the decimal point
  const scientific = point - 1;
  if (scientific >= -6 && scientific < 21) {
    if (point <= 0) {
      // 0.000ddd: shift the digits right.
      const shift = 2 - point;
      memory.copy(start + <usize>shift, start, <usize>length);
      store<u8>(start, 48);
      store<u8>(start + 1, 46);
      for (let i = 0; i < -point; i++) store<u8>(start + 2 + <usize>i, 48);
      return start + <usize>(length + shift);
    }
    if (point >= length) {
      for (let i = length; i < point; i++) store<u8>(start + <usize>i, 48);
      return start + <usize>point;
    }
    memory.copy(start + <usize>point + 1, start + <usize>point, <usize>(length - point));
    store<u8>(start + <usize>point, 46);
    return start + <usize>(length + 1);
  }
  let end = start + 1;
  if (length > 1) {
    memory.copy(start + 2, start + 1, <usize>(length - 1));
    store<u8>(start + 1, 46);
    end = start + <usize>(length + 1);
  }
  store<u8>(end++, 101);
  let e = scientific;
  if (e < 0) {
    store<u8>(end++, 45);
    e = -e;
  }
  if (e >= 10) store<u8>(end++, <u8>(48 + e / 10));
  store<u8>(end++, <u8>(48 + e % 10));
  return end;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Set by parseF32: false when the text was not a number. */
export let parseOk = true;

const EXACT_POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

@inline function isDigit(b: u32): bool {
  return b - 48 < 10;
}

function matchesWord(p: usize, n: usize, word: string): bool {
  if (n != <usize>word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((<u32>load<u8>(p + <usize>i) | 0x20) != <u32>word.charCodeAt(i)) return false;
  }
  return true;
}

/** Parses a decimal number (optional sign, digits, fraction, exponent) to the nearest f32. */
export function parseF32(p: usize, n: usize): f32 {
  parseOk = true;
  let i: usize = 0;
  let negative = false;
  if (n > 0 && (load<u8>(p) == 45 || load<u8>(p) == 43)) {
    negative = load<u8>(p) == 45;
    i = 1;
  }
  if (matchesWord(p + i, n - i, 'inf') || matchesWord(p + i, n - i, 'infinity')) {
    return negative ? -Infinity : Infinity;
  }
  let mantissa: u64 = 0;
  let significant = 0;
  let exponent: i32 = 0;
  let sawDigit = false;
  while (i < n && isDigit(load<u8>(p + i))) {
    const d = <u64>(load<u8>(p + i) - 48);
    if (significant < 19) {
      mantissa = mantissa * 10 + d;
      if (mantissa != 0) significant++;
    } else {
      exponent++;
    }
    sawDigit = true;
    i++;
  }
  if (i < n && load<u8>(p + i) == 46) {
    i++;
    while (i < n && isDigit(load<u8>(p + i))) {
      if (significant < 19) {
        mantissa = mantissa * 10 + <u64>(load<u8>(p + i) - 48);
        if (mantissa != 0) significant++;
        exponent--;
      }
      sawDigit = true;
      i++;
    }
  }
  if (sawDigit && i < n && (load<u8>(p + i) | 0x20) == 101) {
    i++;
    let expNegative = false;
    if (i < n && (load<u8>(p + i) == 45 || load<u8>(p + i) == 43)) {
      expNegative = load<u8>(p + i) == 45;
      i++;
    }
    let e: i32 = 0;
    let expDigits = false;
    while (i < n && isDigit(load<u8>(p + i))) {
      if (e < 100000) e = e * 10 + <i32>(load<u8>(p + i) - 48);
      expDigits = true;
      i++;
    }
    if (!expDigits) sawDigit = false;
    exponent += expNegative ? -e : e;
  }
  if (!sawDigit || i != n) {
    parseOk = false;
    return 0;
  }
  const magnitude = decimalToF32(mantissa, exponent);
  return negative ? -magnitude : magnitude;
}

/** Nearest f32 to mantissa * 10^exponent. */
function decimalToF32(mantissa: u64, exponent: i32): f32 {
  if (mantissa == 0) return 0;
  const m = <f64>mantissa; // exact below 2^53, always true for shortest float output (<= 9 digits)
  let r: f64;
  if (exponent >= 0 && exponent <= 22) {
    r = m * unchecked(EXACT_POW10[exponent]);
    return <f32>r; // products below 2^53 are exact; above, the value is far beyond a tie
  }
  if (exponent < 0 && exponent >= -22) {
    const scale = unchecked(EXACT_POW10[-exponent]);
    r = m / scale;
    // A correctly rounded f64 that lies exactly halfway between two floats may hide which way the
    // exact quotient lies; r * 10^k is exact when k <= 12 (r has at most 25 significant bits there).
    const bits = reinterpret<u64>(r);
    if ((bits & 0x1fffffff) == 0x10000000 && -exponent <= 12 && mantissa < (<u64>1 << 53)) {
      const below = reinterpret<f64>(bits & ~(<u64>0x1fffffff));
      const above = reinterpret<f64>((bits & ~(<u64>0x1fffffff)) + 0x20000000);
      const back = r * scale;
      if (back < m) return <f32>above;
      if (back > m) return <f32>below;
    }
    return <f32>r;
  }
  return <f32>(m * Math.pow(10, <f64>exponent));
}
