import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerNgram } from '../../src/cli/ngram.js';
import { InputError } from '../../src/errors.js';

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command('webtrain').exitOverride();
  registerNgram(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (stdout += a.join(' ') + '\n'));
  const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (stderr += a.join(' ') + '\n'));
  try {
    await program.parseAsync(['node', 'webtrain', ...args]);
  } finally {
    out.mockRestore();
    log.mockRestore();
    err.mockRestore();
  }
  return { stdout, stderr };
}

describe('webtrain ngram', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webtrain-ngram-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const corpus = join(dir, 'train.txt');
  const arpa = join(dir, 'model.arpa');
  writeFileSync(corpus, '我 你 我 他 我 你\n');

  test('build writes an ARPA file; query prints KenLM-style lines and summary', async () => {
    const built = await cli(['ngram', 'build', '--order', '2', '--input', corpus, '--arpa', arpa, '--discount-fallback']);
    expect(built.stderr).toMatch(/D1=0\.500000 D2=1\.00000 D3\+=1\.50000 \(fallback\)/);
    const text = readFileSync(arpa, 'utf8');
    expect(text).toMatch(/^\\data\\\nngram 1=6\nngram 2=6\n/);
    expect(text.endsWith('\\end\\\n')).toBe(true);

    const query = join(dir, 'query.txt');
    writeFileSync(query, '我 你 他\n她 我\n');
    const { stdout } = await cli(['ngram', 'query', '--arpa', arpa, '--input', query]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^我=3 2 -0\.\d+\t你=4 2 -0\.\d+\t他=5 1 -1\.\d+\t<\/s>=2 1 -1\.\d+\tTotal: -2\.\d+ OOV: 0$/);
    expect(lines[1]).toMatch(/^她=0 1 -1\.30103\t/);
    expect(lines[2]).toMatch(/^Perplexity including OOVs:\t\d+\.\d+$/);
    expect(lines[3]).toMatch(/^Perplexity excluding OOVs:\t\d+\.\d+$/);
    expect(lines.slice(4)).toEqual(['OOVs:\t1', 'Tokens:\t7']);

    const json = JSON.parse((await cli(['ngram', 'query', '--arpa', arpa, '--input', query, '--json'])).stdout);
    expect(json.tokens).toBe(7);
    expect(json.oovs).toBe(1);
    expect(json.sentenceScores).toHaveLength(2);
    expect(json.sentenceScores[1].oovs).toBe(1);
    expect(json.perplexity).toBeCloseTo(10 ** (-json.total / 7), 10);
  });

  test('bad input is a clear error', async () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    await expect(cli(['ngram', 'build', '--order', '3', '--input', empty, '--arpa', arpa])).rejects.toThrow(/training text is empty/);
    await expect(cli(['ngram', 'build', '--order', '0', '--input', corpus, '--arpa', arpa])).rejects.toThrow(InputError);
    await expect(cli(['ngram', 'build', '--order', '2', '--input', join(dir, 'missing.txt'), '--arpa', arpa])).rejects.toThrow(/no such file/);
    const broken = join(dir, 'broken.arpa');
    writeFileSync(broken, '\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n');
    await expect(cli(['ngram', 'query', '--arpa', broken, '--input', corpus])).rejects.toThrow(/malformed ARPA file/);
  });
});
