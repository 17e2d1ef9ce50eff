// N-gram language model Wasm module: counting, modified Kneser-Ney, ARPA, query.
// Entry point for `asc --target ngram`. One model at a time lives in the module; the JS wrapper
// (src/ngram/) streams text in as chunks of whole lines and reads results out of linear memory.
import { Buf } from './buffer';
import { Builder } from './build';
import { Model, Scorer } from './model';
import { ArpaWriter, ArpaReader } from './arpa';
import { writeF32 } from './float_text';
import { isSpace, UNK, EOS } from './vocab';

export function abiVersion(): i32 {
  return 1;
}

export function alloc(n: usize): usize {
  return heap.alloc(n);
}

export function free(p: usize): void {
  heap.free(p);
}

let builder: Builder | null = null;
let model: Model | null = null;

function dropModel(): void {
  if (model) model!.dispose();
  model = null;
}

// ---------------------------------------------------------------------------------------------
// Building

export function buildBegin(order: i32): void {
  dropModel();
  if (builder) builder!.dispose();
  builder = new Builder(order);
}

export function buildCount(p: usize, n: usize): void {
  builder!.countText(p, n);
}

/** 0 when built; 1 when a discount could not be estimated (see buildBad*). */
export function buildFinish(useFallback: bool, d1: f32, d2: f32, d3: f32): i32 {
  const b = builder!;
  const built = b.finish(useFallback, d1, d2, d3);
  b.dispose();
  if (built == null) return 1;
  model = built;
  return 0;
}

export function buildTokens(): f64 {
  return <f64>builder!.tokens;
}

export function buildSentences(): f64 {
  return <f64>builder!.sentences;
}

export function buildSkippedSpecials(): f64 {
  return <f64>builder!.skippedSpecials;
}

export function buildBadOrder(): i32 {
  return builder!.badOrder;
}

export function buildBadKind(): i32 {
  return builder!.badKind;
}

export function buildBadCount(): i32 {
  return builder!.badCount;
}

export function buildBadValue(): f32 {
  return builder!.badValue;
}

export function buildFallbackOrders(): u32 {
  return builder!.fallbackOrders;
}

export function buildCountOfCounts(order: i32, count: i32): f64 {
  return <f64>builder!.countsOfCounts[(order - 1) * 5 + count];
}

export function buildDiscount(order: i32, count: i32): f32 {
  return builder!.discounts[(order - 1) * 4 + count];
}

// ---------------------------------------------------------------------------------------------
// The model

export function hasModel(): bool {
  return model != null;
}

export function modelOrder(): i32 {
  return model!.order;
}

export function modelSize(order: i32): f64 {
  return <f64>model!.size(order);
}

export function modelFree(): void {
  dropModel();
}

export function vocabSize(): u32 {
  return model!.vocab.size;
}

export function vocabWordPtr(id: u32): usize {
  return model!.vocab.wordPtr(id);
}

export function vocabWordLen(id: u32): u32 {
  return model!.vocab.wordLen(id);
}

/** Id of a word, or -1. */
export function vocabFind(p: usize, n: u32): i32 {
  return model!.vocab.find(p, n);
}

/** Pointer to the n-gram ids, log10 probability or log10 backoff of entry i of order k. */
export function gramPtr(order: i32, i: u32): usize {
  return model!.gramPtr(order, i);
}

export function gramProb(order: i32, i: u32): f32 {
  return model!.prob[order - 1].f32At(i);
}

export function gramBackoff(order: i32, i: u32): f32 {
  return order < model!.order ? model!.backoff[order - 1].f32At(i) : 0;
}

// ---------------------------------------------------------------------------------------------
// ARPA

let writer: ArpaWriter | null = null;

export function arpaWriteBegin(): void {
  writer = new ArpaWriter(model!);
}

/** Next piece of the ARPA text (about `limit` bytes) at arpaWriteOutPtr(); 0 at the end. */
export function arpaWriteFill(limit: usize): usize {
  const n = writer!.fill(limit);
  if (n == 0) {
    writer!.out.free();
    writer = null;
  }
  return n;
}

export function arpaWriteOutPtr(): usize {
  return writer!.out.ptr;
}

let reader: ArpaReader | null = null;

export function arpaReadBegin(): void {
  dropModel();
  reader = new ArpaReader();
}

export function arpaReadLines(p: usize, n: usize): i32 {
  return reader!.readLines(p, n);
}

/** 0 when the model is complete (it becomes the current model), else an error code. */
export function arpaReadFinish(): i32 {
  const r = reader!;
  const code = r.finish();
  if (code == 0) model = r.model;
  else if (r.model) r.model!.dispose();
  else r.vocab.dispose();
  r.seen.free();
  heap.free(r.fields);
  return code;
}

export function arpaReadErrorLine(): f64 {
  return <f64>reader!.line;
}

export function arpaReadErrorOrder(): i32 {
  return reader!.errorOrder;
}

// ---------------------------------------------------------------------------------------------
// Query, as KenLM's `query`: each line is a sentence scored from <s> and ending with </s>.

export const QUERY_SUMMARY = 0;
export const QUERY_SENTENCE = 1;
export const QUERY_WORD = 2;
/** Binary records per sentence: f32 total, u32 OOVs, u32 tokens (with </s>). */
export const QUERY_RECORDS = 3;

let scorer: Scorer | null = null;
let queryOut = new Buf();
let corpusTotal: f64 = 0;
let corpusOovTotal: f64 = 0;
let corpusOovs: u64 = 0;
let corpusTokens: u64 = 0;

export function queryBegin(): void {
  const m = model!;
  m.buildIndex();
  scorer = new Scorer(m);
  corpusTotal = 0;
  corpusOovTotal = 0;
  corpusOovs = 0;
  corpusTokens = 0;
}

function writeWordResult(out: Buf, p: usize, n: usize, id: u32, matched: i32, prob: f32): void {
  out.pushBytes(p, n);
  out.pushByte(61);
  out.pushUint(<u64>id);
  out.pushByte(32);
  out.pushUint(<u64>matched);
  out.pushByte(32);
  writeF32(out, prob);
  out.pushByte(9);
}

/** Scores whole lines; output (per `level`) at queryOutPtr(), its length returned. */
export function queryLines(p: usize, n: usize, level: i32): usize {
  const s = scorer!;
  const vocab = s.model.vocab;
  const out = queryOut;
  out.len = 0;
  let i: usize = 0;
  while (i < n) {
    s.beginSentence();
    let total: f32 = 0;
    let oovs: u32 = 0;
    let tokens: u32 = 0;
    while (i < n && load<u8>(p + i) != 10) {
      const b = <u32>load<u8>(p + i);
      if (isSpace(b)) {
        i++;
        continue;
      }
      const start = i;
      while (i < n && !isSpace(<u32>load<u8>(p + i))) i++;
      const found = vocab.find(p + start, <u32>(i - start));
      const id: u32 = found < 0 ? UNK : <u32>found;
      const prob = s.score(id);
      if (id == UNK) {
        oovs++;
        corpusOovTotal += <f64>prob;
      }
      total += prob;
      tokens++;
      if (level == QUERY_WORD) writeWordResult(out, p + start, i - start, id, s.matched, prob);
    }
    i++; // the newline
    const endProb = s.score(EOS);
    total += endProb;
    tokens++;
    if (level == QUERY_WORD) {
      out.pushAscii('</s>=');
      out.pushUint(<u64>EOS);
      out.pushByte(32);
      out.pushUint(<u64>s.matched);
      out.pushByte(32);
      writeF32(out, endProb);
      out.pushByte(9);
    }
    if (level == QUERY_WORD || level == QUERY_SENTENCE) {
      out.pushAscii('Total: ');
      writeF32(out, total);
      out.pushAscii(' OOV: ');
      out.pushUint(<u64>oovs);
      out.pushByte(10);
    } else if (level == QUERY_RECORDS) {
      out.pushU32(reinterpret<u32>(total));
      out.pushU32(oovs);
      out.pushU32(tokens);
    }
    corpusTotal += <f64>total;
    corpusOovs += <u64>oovs;
    corpusTokens += <u64>tokens;
  }
  return out.len;
}

export function queryOutPtr(): usize {
  return queryOut.ptr;
}

export function queryTotal(): f64 {
  return corpusTotal;
}

export function queryOovTotal(): f64 {
  return corpusOovTotal;
}

export function queryOovs(): f64 {
  return <f64>corpusOovs;
}

export function queryTokens(): f64 {
  return <f64>corpusTokens;
}

/** log10 p(word | context) with context ids newest first (for checks over a whole vocabulary). */
export function conditionalLog10(context: usize, n: i32, word: u32): f32 {
  const m = model!;
  m.buildIndex();
  if (scorer == null || scorer!.model != m) scorer = new Scorer(m);
  scorer!.setContext(context, n);
  return scorer!.score(word);
}

/** Shortest text of a float as the ARPA writer prints it, at formatOutPtr(); returns its length. */
export function formatF32(x: f32): usize {
  queryOut.len = 0;
  writeF32(queryOut, x);
  return queryOut.len;
}

export function formatOutPtr(): usize {
  return queryOut.ptr;
}
