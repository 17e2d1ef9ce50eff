// ARPA text format, as KenLM writes it (lm/common/print.cc):
//   \data\  /  ngram k=count  /  (blank)  /  \k-grams:  /  prob<TAB>w1 w2<TAB>backoff  /  ...  /  \end\
// Every order but the highest has a backoff column, "0" included. Written in chunks so that large
// models stream to disk; read from chunks of whole lines.
import { Buf } from './buffer';
import { Vocab, isSpace } from './vocab';
import { Model } from './model';
import { writeF32To, F32_TEXT_MAX, parseF32, parseOk } from './float_text';

export class ArpaWriter {
  model: Model;
  out: Buf = new Buf();
  /** 0: header; k: inside section k; order + 1: done. */
  section: i32 = 0;
  next: usize = 0;

  constructor(model: Model) {
    this.model = model;
  }

  /** Fills the output with about `limit` bytes; returns 0 when the file is complete. */
  fill(limit: usize): usize {
    const m = this.model;
    const out = this.out;
    const vocab = m.vocab;
    out.len = 0;
    if (this.section == 0) {
      out.pushAscii('\\data\\\n');
      for (let k = 1; k <= m.order; k++) {
        out.pushAscii('ngram ');
        out.pushUint(<u64>k);
        out.pushByte(61);
        out.pushUint(<u64>m.size(k));
        out.pushByte(10);
      }
      this.section = 1;
      this.next = 0;
      this.startSection();
    }
    while (this.section <= m.order && out.len < limit) {
      const k = this.section;
      const n = m.size(k);
      const prob = m.prob[k - 1].ptr;
      const bo = m.backoff[k - 1].ptr;
      const hasBackoff = k < m.order;
      const lineMax = <usize>k * (<usize>vocab.maxLength + 1) + 2 * F32_TEXT_MAX + 4;
      const text = vocab.text.ptr;
      const offsets = vocab.offsets.ptr;
      const lengths = vocab.lengths.ptr;
      while (this.next < n && out.len < limit) {
        const i = this.next++;
        out.ensure(lineMax);
        let at = writeF32To(out.ptr + out.len, load<f32>(prob + (i << 2)));
        const g = m.gramPtr(k, i);
        for (let j = 0; j < k; j++) {
          store<u8>(at++, j == 0 ? 9 : 32);
          const id = <usize>load<u32>(g + (<usize>j << 2));
          const len = <usize>load<u32>(lengths + (id << 2));
          memory.copy(at, text + <usize>load<u32>(offsets + (id << 2)), len);
          at += len;
        }
        if (hasBackoff) {
          store<u8>(at++, 9);
          at = writeF32To(at, load<f32>(bo + (i << 2)));
        }
        store<u8>(at++, 10);
        out.len = at - out.ptr;
      }
      if (this.next == n) {
        this.section++;
        this.next = 0;
        if (this.section <= m.order) this.startSection();
        else out.pushAscii('\n\\end\\\n');
      }
    }
    return out.len;
  }

  private startSection(): void {
    this.out.pushByte(10);
    this.out.pushByte(92);
    this.out.pushUint(<u64>this.section);
    this.out.pushAscii('-grams:\n');
  }
}

// Reader errors (the JS side turns them into messages with the line number).
export const ARPA_OK = 0;
export const ARPA_NO_DATA = 1;
export const ARPA_BAD_COUNT_LINE = 2;
export const ARPA_EXPECTED_SECTION = 3;
export const ARPA_BAD_NUMBER = 4;
export const ARPA_BAD_FIELDS = 5;
export const ARPA_TOO_FEW = 6;
export const ARPA_UNKNOWN_WORD = 7;
export const ARPA_NO_END = 8;
export const ARPA_NO_COUNTS = 9;
export const ARPA_DUPLICATE_UNIGRAM = 10;
export const ARPA_TRAILING = 11;

const STATE_PREAMBLE = 0;
const STATE_COUNTS = 1;
const STATE_SECTION_HEADER = 2;
const STATE_ENTRIES = 3;
const STATE_END = 4;
const STATE_DONE = 5;

export class ArpaReader {
  vocab: Vocab = new Vocab();
  declared: Array<u64> = [];
  model: Model | null = null;
  state: i32 = STATE_PREAMBLE;
  section: i32 = 0;
  remaining: u64 = 0;
  line: u64 = 0;
  error: i32 = ARPA_OK;
  errorOrder: i32 = 0;
  /** Unigram ids seen, to reject duplicates. */
  seen: Buf = new Buf();
  fields: usize = heap.alloc(64 * 8);

  /** Reads whole lines (the chunk ends with a newline). Returns an ARPA_* code. */
  readLines(p: usize, n: usize): i32 {
    let i: usize = 0;
    while (i < n && this.error == ARPA_OK) {
      let end = i;
      while (end < n && load<u8>(p + end) != 10) end++;
      this.line++;
      this.readLine(p + i, end - i);
      i = end + 1;
    }
    return this.error;
  }

  private fail(code: i32): void {
    if (this.error == ARPA_OK) {
      this.error = code;
      this.errorOrder = this.section;
    }
  }

  /** Splits on whitespace into (start, length) pairs; returns the number of fields (at most 64). */
  private split(p: usize, n: usize): i32 {
    let count = 0;
    let i: usize = 0;
    while (i < n) {
      while (i < n && isSpace(<u32>load<u8>(p + i))) i++;
      if (i >= n) break;
      const start = i;
      while (i < n && !isSpace(<u32>load<u8>(p + i))) i++;
      if (count == 64) return 65;
      store<u32>(this.fields + (<usize>count << 3), <u32>(p + start));
      store<u32>(this.fields + (<usize>count << 3) + 4, <u32>(i - start));
      count++;
    }
    return count;
  }

  @inline private fieldPtr(f: i32): usize {
    return <usize>load<u32>(this.fields + (<usize>f << 3));
  }

  @inline private fieldLen(f: i32): usize {
    return <usize>load<u32>(this.fields + (<usize>f << 3) + 4);
  }

  private lineIs(p: usize, n: usize, s: string): bool {
    // Trailing whitespace (\r from Windows files) is ignored.
    while (n > 0 && isSpace(<u32>load<u8>(p + n - 1))) n--;
    if (n != <usize>s.length) return false;
    for (let i = 0; i < s.length; i++) if (<u32>load<u8>(p + <usize>i) != <u32>s.charCodeAt(i)) return false;
    return true;
  }

  private isBlank(p: usize, n: usize): bool {
    for (let i: usize = 0; i < n; i++) if (!isSpace(<u32>load<u8>(p + i))) return false;
    return true;
  }

  private readLine(p: usize, n: usize): void {
    switch (this.state) {
      case STATE_PREAMBLE: {
        // Anything before \data\ (lmplz's optional "# Input file" header) is skipped.
        if (this.lineIs(p, n, '\\data\\')) this.state = STATE_COUNTS;
        return;
      }
      case STATE_COUNTS: {
        if (this.isBlank(p, n)) {
          if (this.declared.length > 0) this.startModel();
          return;
        }
        if (this.declared.length > 0 && this.lineIs(p, n, '\\1-grams:')) {
          this.startModel();
          this.readLine(p, n);
          return;
        }
        this.readCountLine(p, n);
        return;
      }
      case STATE_SECTION_HEADER: {
        if (this.isBlank(p, n)) return;
        const model = this.model!;
        const k = this.section + 1;
        if (k > model.order) {
          if (this.lineIs(p, n, '\\end\\')) this.state = STATE_DONE;
          else this.fail(ARPA_NO_END);
          return;
        }
        if (!this.lineIs(p, n, '\\' + k.toString() + '-grams:')) {
          this.section = k;
          this.fail(ARPA_EXPECTED_SECTION);
          return;
        }
        this.section = k;
        this.remaining = this.declared[k - 1];
        this.state = this.remaining == 0 ? STATE_END : STATE_ENTRIES;
        return;
      }
      case STATE_ENTRIES: {
        this.readEntry(p, n);
        if (this.error == ARPA_OK && --this.remaining == 0) this.state = STATE_END;
        return;
      }
      case STATE_END: {
        // A section ends with a blank line (or directly with the next header).
        if (this.isBlank(p, n)) {
          this.state = STATE_SECTION_HEADER;
          return;
        }
        const next = this.section + 1;
        if (this.lineIs(p, n, '\\' + next.toString() + '-grams:') || this.lineIs(p, n, '\\end\\')) {
          this.state = STATE_SECTION_HEADER;
          this.readLine(p, n);
          return;
        }
        this.fail(this.isSectionLike(p, n) ? ARPA_EXPECTED_SECTION : ARPA_TRAILING);
        return;
      }
      case STATE_DONE: {
        if (!this.isBlank(p, n)) this.fail(ARPA_TRAILING);
        return;
      }
    }
  }

  private isSectionLike(p: usize, n: usize): bool {
    return n > 0 && load<u8>(p) == 92;
  }

  private readCountLine(p: usize, n: usize): void {
    // "ngram k=count"
    const f = this.split(p, n);
    if (f != 2 || !this.lineStarts(this.fieldPtr(0), this.fieldLen(0), 'ngram')) {
      this.fail(ARPA_BAD_COUNT_LINE);
      return;
    }
    const q = this.fieldPtr(1);
    const len = this.fieldLen(1);
    let i: usize = 0;
    let k: u64 = 0;
    while (i < len && load<u8>(q + i) != 61) {
      const d = <u32>load<u8>(q + i) - 48;
      if (d > 9) {
        this.fail(ARPA_BAD_COUNT_LINE);
        return;
      }
      k = k * 10 + <u64>d;
      i++;
    }
    if (i == 0 || i + 1 >= len || k != <u64>(this.declared.length + 1)) {
      this.fail(ARPA_BAD_COUNT_LINE);
      return;
    }
    i++;
    let count: u64 = 0;
    while (i < len) {
      const d = <u32>load<u8>(q + i) - 48;
      if (d > 9) {
        this.fail(ARPA_BAD_COUNT_LINE);
        return;
      }
      count = count * 10 + <u64>d;
      i++;
    }
    this.declared.push(count);
  }

  private lineStarts(p: usize, n: usize, s: string): bool {
    if (n != <usize>s.length) return false;
    for (let i = 0; i < s.length; i++) if (<u32>load<u8>(p + <usize>i) != <u32>s.charCodeAt(i)) return false;
    return true;
  }

  private startModel(): void {
    const order = this.declared.length;
    const model = new Model(order, this.vocab);
    for (let k = 1; k <= order; k++) {
      // Room for the declared counts, up to a bound so that a corrupt header cannot ask for gigabytes.
      const n = <usize>min<u64>(this.declared[k - 1], 1 << 24);
      model.words[k - 1].reserve(n * <usize>k * 4);
      model.prob[k - 1].reserve(n * 4);
      if (k < order) model.backoff[k - 1].reserve(n * 4);
    }
    this.model = model;
    this.state = STATE_SECTION_HEADER;
    this.section = 0;
  }

  private readEntry(p: usize, n: usize): void {
    const model = this.model!;
    const k = this.section;
    const f = this.split(p, n);
    const withBackoff = f == k + 2 && k < model.order;
    if (f != k + 1 && !withBackoff) {
      this.fail(n == 0 || this.isBlank(p, n) || this.isSectionLike(p, n) ? ARPA_TOO_FEW : ARPA_BAD_FIELDS);
      return;
    }
    const prob = parseF32(this.fieldPtr(0), this.fieldLen(0));
    if (!parseOk) {
      this.fail(ARPA_BAD_NUMBER);
      return;
    }
    let backoff: f32 = 0;
    if (withBackoff) {
      backoff = parseF32(this.fieldPtr(k + 1), this.fieldLen(k + 1));
      if (!parseOk) {
        this.fail(ARPA_BAD_NUMBER);
        return;
      }
    }
    const words = model.words[k - 1];
    for (let j = 1; j <= k; j++) {
      let id: i32;
      if (k == 1) {
        id = <i32>this.vocab.intern(this.fieldPtr(j), <u32>this.fieldLen(j));
        while (<u32>(this.seen.len >> 2) <= <u32>id) this.seen.pushU32(0);
        if (this.seen.u32At(id) != 0) {
          this.fail(ARPA_DUPLICATE_UNIGRAM);
          return;
        }
        this.seen.setU32(id, 1);
      } else {
        id = this.vocab.find(this.fieldPtr(j), <u32>this.fieldLen(j));
        if (id < 0) {
          this.fail(ARPA_UNKNOWN_WORD);
          return;
        }
      }
      words.pushU32(<u32>id);
    }
    model.prob[k - 1].ensure(4);
    store<f32>(model.prob[k - 1].ptr + model.prob[k - 1].len, prob);
    model.prob[k - 1].len += 4;
    if (k < model.order) {
      const bo = model.backoff[k - 1];
      bo.ensure(4);
      store<f32>(bo.ptr + bo.len, backoff);
      bo.len += 4;
    }
  }

  /** Call after the last chunk: checks that the file was complete. */
  finish(): i32 {
    if (this.error != ARPA_OK) return this.error;
    if (this.state == STATE_PREAMBLE) this.fail(ARPA_NO_DATA);
    else if (this.state == STATE_COUNTS) this.fail(this.declared.length == 0 ? ARPA_NO_COUNTS : ARPA_NO_END);
    else if (this.state == STATE_ENTRIES) this.fail(ARPA_TOO_FEW);
    else if (this.state != STATE_DONE) this.fail(ARPA_NO_END);
    return this.error;
  }
}
