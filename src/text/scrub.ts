// Privacy scrubbing: e-mail addresses, phone numbers, IPv4/IPv6 addresses and card-like numbers
// (Luhn-checked) replaced by <EMAIL>, <PHONE>, <IP>, <CARD>. The matching runs in Wasm
// (assembly/text/scrub.ts documents the exact shapes recognised).
import { InputError } from '../errors.js';
import { WasmBytes } from './stream-buffer.js';
import type { TextWasm } from './wasm.js';

export type PiiKind = 'email' | 'phone' | 'ip' | 'card';
export const PII_KINDS: readonly PiiKind[] = ['email', 'phone', 'ip', 'card'];
export type PiiCounts = Record<PiiKind, number>;

const KIND_BITS: Record<PiiKind, number> = { email: 1, phone: 2, ip: 4, card: 8 };

export const emptyPiiCounts = (): PiiCounts => ({ email: 0, phone: 0, ip: 0, card: 0 });

export class Scrubber {
  private readonly kindBits: number;
  private readonly input: WasmBytes;
  private readonly output: WasmBytes;

  constructor(
    private readonly wasm: TextWasm,
    kinds: readonly PiiKind[] = PII_KINDS,
  ) {
    for (const k of kinds) if (!(k in KIND_BITS)) throw new InputError(`unknown kind to scrub: ${k} (use ${PII_KINDS.join(', ')})`);
    this.kindBits = kinds.reduce((bits, k) => bits | KIND_BITS[k], 0);
    this.input = new WasmBytes(wasm);
    this.output = new WasmBytes(wasm);
  }

  /** Scrubs `doc` into `out` (another buffer); adds what it replaced to `counts`. */
  scrubInto(doc: WasmBytes, out: WasmBytes, counts: PiiCounts): void {
    out.reserve(doc.length * 2 + 16);
    out.length = this.wasm.scrubPii(doc.ptr, doc.length, out.ptr, this.kindBits);
    PII_KINDS.forEach((k, i) => (counts[k] += this.wasm.scrubCount(i)));
  }

  scrub(text: string): { text: string; counts: PiiCounts } {
    const counts = emptyPiiCounts();
    this.input.setString(text);
    this.scrubInto(this.input, this.output, counts);
    return { text: this.output.toString(), counts };
  }

  dispose(): void {
    this.input.dispose();
    this.output.dispose();
  }
}
