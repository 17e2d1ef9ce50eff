// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data. String metadata
// goes under "__metadata__". Reading checks every offset so a truncated or corrupt file
// gives a clear error instead of garbage weights.
import { CorruptFileError } from '../errors.js';

export type StDType = 'F32' | 'F16' | 'BF16' | 'U32' | 'I32' | 'U8';
const BYTES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2, U32: 4, I32: 4, U8: 1 };

export interface StTensor {
  dtype: StDType;
  shape: number[];
  data: Uint8Array;
}

export function encodeSafetensors(tensors: Record<string, StTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    if (t.data.byteLength < bytes) throw new Error(`tensor ${name}: ${t.data.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (counted in UTF-8 bytes, not characters).
  const unpadded = new TextEncoder().encode(json).length;
  const head = new TextEncoder().encode(json + ' '.repeat((8 - ((8 + unpadded) % 8)) % 8));
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    out.set(t.data.subarray(0, bytes), at);
    at += bytes;
  }
  return out;
}

export function decodeSafetensors(file: Uint8Array, what = 'safetensors file'): { tensors: Record<string, StTensor>; metadata: Record<string, string> } {
  if (file.byteLength < 8) throw new CorruptFileError(`${what} is truncated (${file.byteLength} bytes)`);
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (n > file.byteLength - 8) throw new CorruptFileError(`${what}: header length ${n} exceeds the file (${file.byteLength} bytes); the file is truncated or not safetensors`);
  let header: Record<string, { dtype: StDType; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  } catch {
    throw new CorruptFileError(`${what}: the header is not valid JSON; the file is corrupt`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CorruptFileError(`${what}: the header is not a JSON object; the file is corrupt`);
  }
  const data = file.subarray(8 + n);
  const tensors: Record<string, StTensor> = {};
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype: StDType; shape: number[]; data_offsets: [number, number] };
    const wellFormed = typeof e === 'object' && e !== null && Object.hasOwn(BYTES, e.dtype) && Array.isArray(e.shape) &&
      e.shape.every((d) => Number.isInteger(d) && d >= 0) && Array.isArray(e.data_offsets) && e.data_offsets.length === 2 &&
      e.data_offsets.every((o) => Number.isInteger(o));
    if (!wellFormed) {
      throw new CorruptFileError(`${what}: tensor ${name} has a malformed entry (${JSON.stringify(e)})`);
    }
    const [begin, end] = e.data_offsets;
    const want = e.shape.reduce((a, b) => a * b, 1) * BYTES[e.dtype];
    if (end - begin !== want || end > data.byteLength || begin < 0) {
      throw new CorruptFileError(`${what}: tensor ${name} [${e.shape}] ${e.dtype} needs ${want} bytes at ${begin}..${end}, ` +
        `but the data section has ${data.byteLength}; the file is truncated or corrupt`);
    }
    tensors[name] = { dtype: e.dtype, shape: e.shape, data: data.slice(begin, end) };
  }
  return { tensors, metadata };
}
