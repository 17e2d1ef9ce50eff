// Streaming input: bytes arrive in chunks of any size, are checked as UTF-8 in Wasm (errors
// reported with their byte offset, or replaced by U+FFFD), and are split into documents
// (JSON lines, lines, blank-line-separated paragraphs, or whole files). Portable: the
// Node file reader lives in stream-node.ts.
import { InputError } from '../errors.js';
import { WasmBytes } from './stream-buffer.js';
import { textWasm, type TextWasm } from './wasm.js';

/** What to do with ill-formed UTF-8: stop with its offset, or replace each bad sequence by U+FFFD. */
export type InvalidUtf8Mode = 'error' | 'replace';

/** How documents are delimited in the input. */
export type DocumentFormat = 'jsonl' | 'lines' | 'paragraphs' | 'file';

export interface Document {
  text: string;
  /** Byte offset of the document (its line, for JSONL) in the checked stream: the source offset unless bytes were replaced before it. */
  offset: number;
}

export interface Utf8Report {
  /** Ill-formed sequences found (replaced, in 'replace' mode). */
  invalidSequences: number;
  /** Source byte offsets of the first of them (at most 64 per chunk, 100 in all). */
  invalidOffsets: number[];
}

const MAX_REPORTED_OFFSETS = 100;

/** Checks a byte stream as UTF-8 chunk by chunk, carrying sequences split between chunks. */
export class Utf8StreamChecker {
  private readonly input: WasmBytes;
  private readonly output: WasmBytes;
  private carry = new Uint8Array(0);
  private consumed = 0; // source bytes before `carry`
  readonly report: Utf8Report = { invalidSequences: 0, invalidOffsets: [] };

  constructor(
    private readonly wasm: TextWasm,
    private readonly mode: InvalidUtf8Mode,
    private readonly source: string,
  ) {
    this.input = new WasmBytes(wasm);
    this.output = new WasmBytes(wasm);
  }

  /**
   * The next chunk's well-formed bytes (repaired in 'replace' mode). A sequence cut off at the
   * chunk's end is held back for the next call, or treated as an error when `isFinal`.
   */
  push(chunk: Uint8Array, isFinal = false): Uint8Array {
    const data = this.carry.length ? concat(this.carry, chunk) : chunk;
    const repair = this.mode === 'replace';
    this.input.setBytes(data);
    if (repair) this.output.reserve(data.length * 3);
    const used = this.wasm.utf8Check(this.input.ptr, data.length, this.output.ptr, repair, isFinal);
    const errors = this.wasm.utf8ErrorCount();
    if (errors > 0) {
      const first = this.consumed + this.wasm.utf8ErrorOffset(0);
      if (!repair) {
        throw new InputError(
          `${this.source}: invalid UTF-8 at byte ${first}. Fix the file, or pass --invalid-utf8 replace to replace bad bytes with U+FFFD.`,
        );
      }
      this.report.invalidSequences += errors;
      for (let i = 0; i < Math.min(errors, 64) && this.report.invalidOffsets.length < MAX_REPORTED_OFFSETS; i++) {
        this.report.invalidOffsets.push(this.consumed + this.wasm.utf8ErrorOffset(i));
      }
    }
    // Copy what is kept (the buffers are reused on the next call).
    this.carry = data.slice(used);
    this.consumed += used;
    if (errors > 0) {
      this.output.length = this.wasm.utf8OutLength();
      return this.output.bytes().slice();
    }
    return data.subarray(0, used);
  }

  /** Call at the end of the stream: a dangling partial sequence is an error. */
  finish(): Uint8Array {
    return this.push(new Uint8Array(0), true);
  }

  dispose(): void {
    this.input.dispose();
    this.output.dispose();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export interface SplitOptions {
  format: DocumentFormat;
  /** JSONL field holding the text (default "text"). */
  textField?: string;
  /** Largest document (or JSON line) accepted, in bytes: a guard against unsplit input. */
  maxDocumentBytes?: number;
  /** Name used in error messages. */
  source?: string;
}

const decoder = new TextDecoder();
const LF = 0x0a;

/** Splits checked UTF-8 bytes into documents; feed with `push` and close with `finish`. */
export class DocumentSplitter {
  private pending: Uint8Array[] = []; // bytes of an unfinished line
  private pendingBytes = 0;
  private pendingStart = 0; // offset where the unfinished line began
  private offset = 0; // offset of the next byte pushed
  private lineNumber = 0;
  private paragraph: string[] = [];
  private paragraphOffset = 0;
  private paragraphBytes = 0;
  private readonly maxBytes: number;
  private readonly field: string;
  private readonly source: string;

  constructor(private readonly options: SplitOptions) {
    this.maxBytes = options.maxDocumentBytes ?? 16 << 20;
    this.field = options.textField ?? 'text';
    this.source = options.source ?? 'input';
  }

  push(bytes: Uint8Array, out: Document[] = []): Document[] {
    const base = this.offset;
    let start = 0;
    for (;;) {
      const lf = bytes.indexOf(LF, start);
      if (lf < 0) break;
      const lineOffset = this.pendingBytes ? this.pendingStart : base + start;
      this.onLine(this.takeLine(bytes.subarray(start, lf)), lineOffset, out);
      start = lf + 1;
    }
    if (start < bytes.length) {
      if (this.pendingBytes === 0) this.pendingStart = base + start;
      this.pendingBytes += bytes.length - start;
      this.guardSize(this.pendingBytes + this.paragraphBytes);
      this.pending.push(bytes.slice(start));
    }
    this.offset += bytes.length;
    return out;
  }

  finish(out: Document[] = []): Document[] {
    if (this.pendingBytes > 0) this.onLine(this.takeLine(new Uint8Array(0)), this.pendingStart, out);
    this.flushParagraph(out);
    return out;
  }

  private takeLine(tail: Uint8Array): Uint8Array {
    if (this.pendingBytes === 0) return tail;
    const line = new Uint8Array(this.pendingBytes + tail.length);
    let at = 0;
    for (const piece of this.pending) {
      line.set(piece, at);
      at += piece.length;
    }
    line.set(tail, at);
    this.pending = [];
    this.pendingBytes = 0;
    return line;
  }

  private guardSize(bytes: number): void {
    if (bytes > this.maxBytes) {
      const hint =
        this.options.format === 'file' || this.options.format === 'paragraphs'
          ? 'split the input, or use --format lines'
          : 'split the input into shorter lines';
      throw new InputError(
        `${this.source}: a document near byte ${this.offset} is larger than ${this.maxBytes} bytes; ${hint} (or raise --max-document-bytes).`,
      );
    }
  }

  private onLine(line: Uint8Array, offset: number, out: Document[]): void {
    this.lineNumber++;
    this.guardSize(line.length + this.paragraphBytes);
    switch (this.options.format) {
      case 'jsonl':
        this.onJsonLine(line, offset, out);
        break;
      case 'lines':
        if (line.length > 0) out.push({ text: stripCR(decoder.decode(line)), offset });
        break;
      case 'paragraphs': {
        const text = stripCR(decoder.decode(line));
        if (text.trim() === '') this.flushParagraph(out);
        else {
          if (this.paragraph.length === 0) this.paragraphOffset = offset;
          this.paragraph.push(text);
          this.paragraphBytes += line.length + 1;
        }
        break;
      }
      case 'file':
        if (this.paragraph.length === 0) this.paragraphOffset = offset;
        this.paragraph.push(stripCR(decoder.decode(line)));
        this.paragraphBytes += line.length + 1;
        break;
    }
  }

  private flushParagraph(out: Document[]): void {
    if (this.paragraph.length === 0) return;
    const text = this.paragraph.join('\n');
    this.paragraph = [];
    this.paragraphBytes = 0;
    if (text.trim() !== '') out.push({ text, offset: this.paragraphOffset });
  }

  private onJsonLine(line: Uint8Array, offset: number, out: Document[]): void {
    const raw = decoder.decode(line);
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new InputError(
        `${this.source}: line ${this.lineNumber} (byte ${offset}) is not valid JSON (${(e as Error).message}); each line must be one JSON object.`,
      );
    }
    const text = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[this.field] : undefined;
    if (typeof text !== 'string') {
      throw new InputError(
        `${this.source}: line ${this.lineNumber} (byte ${offset}) has no string field "${this.field}"; pass --text-field NAME for another field.`,
      );
    }
    out.push({ text, offset });
  }
}

function stripCR(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

export interface StreamOptions extends SplitOptions {
  invalidUtf8?: InvalidUtf8Mode;
}

/**
 * Documents from a stream of byte chunks (a Node file stream, a browser ReadableStream, ...).
 * `report` receives the UTF-8 findings once the stream ends.
 */
export async function* documentsFromChunks(
  chunks: AsyncIterable<Uint8Array>,
  options: StreamOptions,
  report?: (r: Utf8Report) => void,
): AsyncGenerator<Document> {
  const checker = new Utf8StreamChecker(await textWasm(), options.invalidUtf8 ?? 'error', options.source ?? 'input');
  const splitter = new DocumentSplitter(options);
  try {
    for await (const chunk of chunks) yield* splitter.push(checker.push(chunk));
    yield* splitter.push(checker.finish());
    yield* splitter.finish();
    report?.(checker.report);
  } finally {
    checker.dispose();
  }
}

/** Guesses the format from a file name: JSON lines for .jsonl/.ndjson/.json, else paragraphs. */
export function formatForPath(path: string): DocumentFormat {
  return /\.(jsonl|ndjson|json)(\.gz)?$/i.test(path) ? 'jsonl' : 'paragraphs';
}
