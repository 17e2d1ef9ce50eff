import { textWasm } from '../../src/text/wasm.js';
import { DocumentSplitter, Utf8StreamChecker, documentsFromChunks, type Document } from '../../src/text/stream.js';
import { readDocuments } from '../../src/text/stream-node.js';
import { InputError } from '../../src/errors.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Splits bytes into chunks of the given sizes (cycling), to cut sequences and lines anywhere. */
function* chunked(bytes: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

async function collect(gen: AsyncIterable<Document>): Promise<Document[]> {
  const out: Document[] = [];
  for await (const d of gen) out.push(d);
  return out;
}

test('valid UTF-8 split at every possible chunk boundary passes through unchanged', async () => {
  const text = 'aé€😀 ñ中文\n👍🏽 end';
  const bytes = enc.encode(text);
  const wasm = await textWasm();
  for (let size = 1; size <= 5; size++) {
    const checker = new Utf8StreamChecker(wasm, 'error', 'mem');
    const parts: Uint8Array[] = [...chunked(bytes, [size])].map((c) => checker.push(c).slice());
    parts.push(checker.finish());
    expect(dec.decode(concatBytes(parts))).toBe(text);
    checker.dispose();
  }
});

test('invalid UTF-8 is reported with its byte offset, even when split across chunks', async () => {
  const wasm = await textWasm();
  // "abc" then an overlong encoding of '/', then text; and a truncated 3-byte sequence at the very end.
  const bytes = new Uint8Array([...enc.encode('abc'), 0xc0, 0xaf, ...enc.encode('déf')]);
  const checker = new Utf8StreamChecker(wasm, 'error', 'bad.txt');
  expect(() => {
    for (const c of chunked(bytes, [2])) checker.push(c);
  }).toThrow(new InputError('bad.txt: invalid UTF-8 at byte 3. Fix the file, or pass --invalid-utf8 replace to replace bad bytes with U+FFFD.'));

  const truncated = new Uint8Array([...enc.encode('héllo '), 0xe2, 0x82]);
  const c2 = new Utf8StreamChecker(wasm, 'error', 't.txt');
  c2.push(truncated);
  expect(() => c2.finish()).toThrow(/invalid UTF-8 at byte 7/);
});

test('replace mode puts U+FFFD where TextDecoder would, and records the offsets', async () => {
  const wasm = await textWasm();
  const bad = new Uint8Array([
    0x61, 0xff, 0x62, // lone 0xFF
    0xe2, 0x82, 0x63, // truncated 3-byte sequence: one error
    0xed, 0xa0, 0x80, // surrogate: three errors
    0xf0, 0x9f, 0x98, 0x80, // valid emoji
    0xf4, 0x90, 0x80, 0x80, // above U+10FFFF: four errors
    0xe2, 0x82, // truncated at end of stream
  ]);
  for (const size of [1, 3, 7, bad.length]) {
    const checker = new Utf8StreamChecker(wasm, 'replace', 'mem');
    const parts: Uint8Array[] = [...chunked(bad, [size])].map((c) => checker.push(c).slice());
    parts.push(checker.finish());
    expect(dec.decode(concatBytes(parts))).toBe(dec.decode(bad));
    expect(checker.report.invalidSequences).toBe(10);
    expect(checker.report.invalidOffsets).toEqual([1, 3, 6, 7, 8, 13, 14, 15, 16, 17]);
    checker.dispose();
  }
});

test('JSON lines, lines, paragraphs and whole files are split into documents with offsets', async () => {
  const jsonl = '{"text":"first doc"}\n{"text":"second\\ndoc","id":2}\n\n{"text":"thïrd"}';
  const docs = await collect(documentsFromChunks(asAsync(chunked(enc.encode(jsonl), [5, 3])), { format: 'jsonl' }));
  expect(docs).toEqual([
    { text: 'first doc', offset: 0 },
    { text: 'second\ndoc', offset: 21 },
    { text: 'thïrd', offset: 52 },
  ]);

  const plain = 'para one\nstill one\r\n\n  \npara two\n';
  const bytes = () => asAsync(chunked(enc.encode(plain), [4]));
  expect(await collect(documentsFromChunks(bytes(), { format: 'paragraphs' }))).toEqual([
    { text: 'para one\nstill one', offset: 0 },
    { text: 'para two', offset: 24 },
  ]);
  expect((await collect(documentsFromChunks(bytes(), { format: 'lines' }))).map((d) => d.text)).toEqual([
    'para one', 'still one', '  ', 'para two',
  ]);
  expect((await collect(documentsFromChunks(bytes(), { format: 'file' }))).map((d) => d.text)).toEqual([
    'para one\nstill one\n\n  \npara two',
  ]);
});

test('bad JSON lines and oversized documents are clear errors', async () => {
  const bad = enc.encode('{"text":"ok"}\n{"text": oops}\n');
  await expect(collect(documentsFromChunks(asAsync([bad]), { format: 'jsonl', source: 'x.jsonl' }))).rejects.toThrow(
    /x\.jsonl: line 2 \(byte 14\) is not valid JSON/,
  );
  const noField = enc.encode('{"body":"ok"}\n');
  await expect(collect(documentsFromChunks(asAsync([noField]), { format: 'jsonl' }))).rejects.toThrow(/no string field "text"/);
  const splitter = new DocumentSplitter({ format: 'file', maxDocumentBytes: 10 });
  expect(() => splitter.push(enc.encode('0123456789abcdef'))).toThrow(/larger than 10 bytes/);
});

test('files are read in chunks, plain or gzip-compressed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-stream-'));
  const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ text: `document ${i} ✓` })).join('\n');
  writeFileSync(join(dir, 'a.jsonl'), lines);
  writeFileSync(join(dir, 'b.jsonl.gz'), gzipSync(enc.encode(lines)));
  for (const name of ['a.jsonl', 'b.jsonl.gz']) {
    let progress = 0;
    const docs = await collect(readDocuments(join(dir, name), { onProgress: (n) => (progress = n) }));
    expect(docs.length).toBe(3000);
    expect(docs[2999].text).toBe('document 2999 ✓');
    expect(progress).toBeGreaterThan(0);
  }
  await expect(collect(readDocuments(join(dir, 'missing.txt')))).rejects.toThrow(/input file not found/);
});
