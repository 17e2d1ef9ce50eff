import { textWasm } from '../../src/text/wasm.js';
import { ExactDeduplicator, NearDeduplicator } from '../../src/text/dedup.js';
import { WasmBytes } from '../../src/text/stream-buffer.js';

let wasm: Awaited<ReturnType<typeof textWasm>>;
let buf: WasmBytes;
beforeAll(async () => {
  wasm = await textWasm();
  buf = new WasmBytes(wasm);
});

const load = (text: string) => (buf.setString(text), buf);

/** Small seeded PRNG (mulberry32) so the generated corpus is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shingles(words: string[], k: number): Set<string> {
  const out = new Set<string>();
  if (words.length < k) out.add(words.join(' '));
  for (let i = 0; i + k <= words.length; i++) out.add(words.slice(i, i + k).join(' '));
  return out;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

test('exact duplicates are found by hash of the normalised bytes', () => {
  const exact = new ExactDeduplicator(wasm);
  expect(exact.isDuplicate(load('hello world'))).toBe(false);
  expect(exact.isDuplicate(load('hello world!'))).toBe(false);
  expect(exact.isDuplicate(load('hello world'))).toBe(true);
  // Enough documents to make the table grow several times.
  for (let i = 0; i < 20000; i++) expect(exact.isDuplicate(load(`doc ${i}`))).toBe(false);
  for (let i = 0; i < 20000; i += 997) expect(exact.isDuplicate(load(`doc ${i}`))).toBe(true);
  expect(exact.size).toBe(20002);
  exact.dispose();
});

test.each([
  { shingleSize: 5, numPerm: 128, bands: 32, threshold: 0.8, maxEditRate: 0.08 },
  { shingleSize: 3, numPerm: 256, bands: 32, threshold: 0.7, maxEditRate: 0.16 },
])('MinHash near-duplicate detection: recall and precision on generated near-duplicates (%o)', ({ maxEditRate, ...options }) => {
  const random = rng(42);
  const vocab = Array.from({ length: 3000 }, () =>
    Array.from({ length: 3 + Math.floor(random() * 6) }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join(''),
  );
  const word = () => vocab[Math.floor(random() * vocab.length)];
  const { threshold, shingleSize } = options;
  const near = new NearDeduplicator(wasm, options);
  const bases: string[][] = [];
  for (let d = 0; d < 200; d++) {
    const words = Array.from({ length: 100 + Math.floor(random() * 200) }, word);
    bases.push(words);
    expect(near.check(load(words.join(' '))).duplicate).toBe(false);
  }
  // Variants: substitutions, insertions and deletions at rates spread so true similarity covers ~0.3..1.
  let truePositives = 0;
  let flagged = 0;
  let actual = 0;
  const similarities: number[] = [];
  const outcomes: [number, boolean][] = [];
  for (let v = 0; v < 800; v++) {
    const base = bases[v % bases.length];
    const rate = random() * maxEditRate;
    const words: string[] = [];
    for (const w of base) {
      const r = random();
      if (r < rate / 3) continue; // deletion
      words.push(r < (2 * rate) / 3 ? word() : w); // substitution
      if (r > 1 - rate / 3) words.push(word()); // insertion
    }
    // Re-cased and re-punctuated copies count as the same words.
    const text = words.map((w, i) => (i % 17 === 0 ? w.toUpperCase() + ',' : w)).join(' ');
    const truth = jaccard(shingles(base, shingleSize), shingles(words, shingleSize));
    similarities.push(truth);
    const found = near.find(load(text));
    outcomes.push([truth, found.duplicate]);
    if (truth >= threshold) actual++;
    if (found.duplicate) {
      flagged++;
      if (truth >= threshold) truePositives++;
      expect(found.of).toBe(v % bases.length);
    }
  }
  const recall = truePositives / actual;
  const precision = truePositives / flagged;
  // The generated set must straddle the threshold for this to measure anything.
  expect(similarities.filter((s) => s >= threshold).length).toBeGreaterThan(150);
  expect(similarities.filter((s) => s < threshold).length).toBeGreaterThan(150);
  expect(recall).toBeGreaterThanOrEqual(0.9);
  expect(precision).toBeGreaterThanOrEqual(0.9);
  // Away from the threshold, where the estimate's noise (about 0.035 at 128 permutations) matters little:
  const clearlyNear = outcomes.filter(([t]) => t >= threshold + 0.07);
  const clearlyFar = outcomes.filter(([t]) => t < threshold - 0.07);
  expect(clearlyNear.filter(([, f]) => f).length / clearlyNear.length).toBeGreaterThanOrEqual(0.99);
  expect(clearlyFar.filter(([, f]) => f).length / clearlyFar.length).toBeLessThanOrEqual(0.01);
  console.log(`near-dup @J>=${threshold}: recall ${recall.toFixed(3)} precision ${precision.toFixed(3)} (${actual} true, ${flagged} flagged)`);
  near.dispose();
});

test('unrelated documents are not near-duplicates; identical ones have similarity 1', () => {
  const near = new NearDeduplicator(wasm, { threshold: 0.5 });
  const a = 'the quick brown fox jumps over the lazy dog near the river bank today';
  const b = 'a completely different sentence about markets prices and the weather this week';
  expect(near.check(load(a)).duplicate).toBe(false);
  expect(near.check(load(b)).duplicate).toBe(false);
  expect(near.check(load(a))).toEqual({ duplicate: true, of: 0, similarity: 1 });
  expect(near.check(load('   ')).duplicate).toBe(false); // no words: never a duplicate
  expect(near.size).toBe(2);
  near.dispose();
});

test('MinHash parameters are checked', () => {
  expect(() => new NearDeduplicator(wasm, { numPerm: 100, bands: 32 })).toThrow(/must divide/);
  expect(() => new NearDeduplicator(wasm, { threshold: 1.5 })).toThrow(/threshold/);
  expect(() => new NearDeduplicator(wasm, { shingleSize: 0 })).toThrow(/shingle size/);
  const d = new NearDeduplicator(wasm, { numPerm: 128, bands: 16 });
  expect(d.candidateThreshold).toBeCloseTo(Math.pow(1 / 16, 1 / 8), 12);
  d.dispose();
});
