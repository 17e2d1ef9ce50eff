// Element types. f16 is stored as IEEE half (needs the 'shader-f16' feature);
// bf16 is a storage format packed two per u32 word, widened to f32 in kernels.

export type DType = 'f32' | 'f16' | 'bf16' | 'u32' | 'i32';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'u32', 'i32'];

/** Bytes of storage for n elements (rounded up to whole 32-bit words). */
export function storageBytes(dtype: DType, n: number): number {
  const bytes = dtype === 'f16' || dtype === 'bf16' ? n * 2 : n * 4;
  return Math.ceil(bytes / 4) * 4;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** f32 -> bf16 bits, rounding to nearest even (NaN stays NaN). */
export function toBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBf16Bits(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0];
}

/** f32 -> f16 bits, rounding to nearest even, with overflow to infinity and subnormals. */
export function toF16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 0x1f) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}

export function fromF16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Packs numbers into the byte layout of a dtype. */
export function encode(dtype: DType, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const out = new ArrayBuffer(storageBytes(dtype, n));
  switch (dtype) {
    case 'f32': new Float32Array(out).set(values); break;
    case 'u32': new Uint32Array(out).set(values); break;
    case 'i32': new Int32Array(out).set(values); break;
    case 'f16': { const h = new Uint16Array(out); for (let i = 0; i < n; i++) h[i] = toF16Bits(values[i]); break; }
    case 'bf16': { const h = new Uint16Array(out); for (let i = 0; i < n; i++) h[i] = toBf16Bits(values[i]); break; }
  }
  return new Uint8Array(out);
}

/** Unpacks n elements of a dtype into f32 (or integer) values. */
export function decode(dtype: DType, bytes: ArrayBuffer, n: number): Float32Array | Uint32Array | Int32Array {
  switch (dtype) {
    case 'f32': return new Float32Array(bytes, 0, n).slice();
    case 'u32': return new Uint32Array(bytes, 0, n).slice();
    case 'i32': return new Int32Array(bytes, 0, n).slice();
    case 'f16': { const h = new Uint16Array(bytes, 0, n); const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = fromF16Bits(h[i]); return o; }
    case 'bf16': { const h = new Uint16Array(bytes, 0, n); const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = fromBf16Bits(h[i]); return o; }
  }
}
