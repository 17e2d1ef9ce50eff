// The Wasm character classes must agree with JavaScript's own regex Unicode properties, which is
// what the GPT-2 reference (js-tiktoken) uses for \p{L}, \p{N} and \s.
import { readFileSync } from 'node:fs';
// @ts-expect-error plain ESM script without type declarations
import { CLASSES, generate } from '../../scripts/gen-unicode-tables.mjs';
import { textWasm } from '../../src/text/wasm.js';

const tablePath = new URL('../../assembly/text/unicode_tables.ts', import.meta.url);
const committed = readFileSync(tablePath, 'utf8');
const tableUnicode = /\(Unicode ([\d.]+)\)/.exec(committed)?.[1];
const sameUnicode = tableUnicode === process.versions.unicode;

test('the committed tables are what the generator writes (when this Node has the same Unicode version)', () => {
  expect(tableUnicode).toBeDefined();
  if (sameUnicode) expect(generate()).toBe(committed);
  else expect(committed).toContain('CLASS_STARTS');
});

test('every code point gets the same classes in Wasm as in JS regexes', async () => {
  const w = await textWasm();
  const regexes = (CLASSES as [string, RegExp][]).map(([, re]) => re);
  const unassigned = /^\p{Cn}$/u;
  const chunk = 1 << 16;
  const out = w.alloc(chunk);
  let compared = 0;
  try {
    for (let start = 0; start <= 0x10ffff; start += chunk) {
      w.unicodeClasses(start, start + chunk, out);
      const classes = new Uint8Array(w.memory.buffer, out, chunk).slice();
      for (let i = 0; i < chunk; i++) {
        const ch = String.fromCodePoint(start + i);
        // Across Unicode versions only characters assigned in both can be compared.
        if (!sameUnicode && (unassigned.test(ch) || classes[i] === 1 << 5)) continue;
        let expected = 0;
        for (let k = 0; k < regexes.length; k++) if (regexes[k]!.test(ch)) expected |= 1 << k;
        if (classes[i] !== expected) throw new Error(`U+${(start + i).toString(16)}: Wasm ${classes[i]} JS ${expected}`);
        compared++;
      }
    }
  } finally {
    w.free(out);
  }
  expect(compared).toBeGreaterThan(sameUnicode ? 0x10ffff : 250_000);
});
