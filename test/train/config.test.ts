// Training settings: every bad value is an InputError whose message names the setting, so a user
// knows which line of the config file (or which flag) to fix.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import { applyOverrides, checkTrainConfig, parseConfigFile, presetConfig, type TrainConfig } from '../../src/train/config.js';
import { modelConfigFor, resolveConfig } from '../../src/cli/train.js';
import { useNodePlatform } from '../../src/platform/node.js';

useNodePlatform();
const tiny = presetConfig('tiny');

function inputError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected an InputError, but nothing was thrown');
}

test('the presets exist and are valid as they stand', () => {
  for (const preset of ['tiny', 'small', 'gpt2-124m']) {
    const cfg = presetConfig(preset);
    expect(cfg.preset).toBe(preset);
    expect(() => checkTrainConfig(cfg, 'preset')).not.toThrow();
  }
});

test('an unknown preset names itself and the choices', () => {
  const message = inputError(() => presetConfig('huge'));
  expect(message).toContain("'huge'");
  expect(message).toContain('tiny, small, gpt2-124m');
  expect(inputError(() => applyOverrides(tiny, { preset: 'huge' }, 'run.json'))).toMatch(/run\.json: 'preset' must be one of tiny, small, gpt2-124m/);
});

// [setting, a bad value, what the message must say about it]
const badValues: [keyof TrainConfig, unknown, RegExp][] = [
  ['batchSize', 0, /integer in \[1, 65536\]/], ['batchSize', 2.5, /integer/], ['batchSize', '8', /got "8"/],
  ['seqLen', 0, /integer/], ['gradAccum', 0, /integer in \[1, 1024\]/], ['steps', -1, /integer in \[0,/],
  ['steps', null, /got null/], ['optimizer', 'adam', /one of adamw, sgd, adafactor/], ['lr', -1e-3, /number in \[0, 10\]/],
  ['lr', 'fast', /number/], ['minLr', 11, /number in \[0, 10\]/], ['warmup', 1.5, /integer/],
  ['schedule', 'exponential', /one of cosine, linear, constant/], ['weightDecay', -0.1, /number/], ['beta1', 1, /number in \[0, 0.999999\]/],
  ['beta2', 1, /number/], ['momentum', 1, /number/], ['gradClip', -1, /number/], ['precision', 'f64', /one of f32, f16, bf16/],
  ['precision', 16, /one of/], ['seed', -1, /integer/], ['seed', 2 ** 32, /integer in \[0, 4294967295\]/], ['logEvery', 0, /integer in \[1,/],
  ['evalEvery', -1, /integer in \[0,/], ['evalBatches', 0, /integer/], ['patience', 0.5, /integer/], ['checkpointEvery', -2, /integer/],
  ['keepCheckpoints', 0, /integer in \[1,/], ['sampleTokens', -1, /integer/], ['model', [], /must be an object/],
  ['model', null, /must be an object/], ['model', 'tiny', /must be an object/],
];

test.each(badValues)('a bad %s (%j) is refused, naming the setting', (key, value, what) => {
  const message = inputError(() => applyOverrides(tiny, { [key]: value }, 'run.json'));
  expect(message).toContain(`run.json: '${key}'`);
  expect(message).toMatch(what);
});

test('non-finite numbers (from flags) are refused', () => {
  for (const value of [NaN, Infinity, -Infinity]) expect(inputError(() => applyOverrides(tiny, { lr: value }, 'flags'))).toContain("'lr'");
});

test('unknown settings are refused, naming the key and listing the known ones', () => {
  const message = inputError(() => applyOverrides(tiny, { batch_size: 4 }, 'run.json'));
  expect(message).toContain("unknown setting 'batch_size'");
  expect(message).toContain('batchSize');
  const model = inputError(() => applyOverrides(tiny, { model: { nEmbed: 32 } }, 'run.json'));
  expect(model).toContain("unknown model setting 'nEmbed'");
  expect(model).toContain('nEmbd');
  expect(inputError(() => applyOverrides(tiny, { model: { nLayer: '2' } }, 'run.json'))).toContain('model.nLayer must be a number, got "2"');
});

test('good overrides apply, and undefined ones (absent flags) leave the value alone', () => {
  const cfg = applyOverrides(tiny, { batchSize: 2, model: { nLayer: 1 }, steps: undefined }, 'flags');
  expect(cfg.batchSize).toBe(2);
  expect(cfg.steps).toBe(tiny.steps);
  expect(cfg.model).toEqual({ nLayer: 1 });
  expect(tiny.model).toEqual({});
});

// Settings that are fine alone but not together; checked once all overrides are in.
const badCombinations: [Record<string, unknown>, RegExp][] = [
  [{ lr: 1e-3, minLr: 1e-2 }, /minLr \(0\.01\) must not exceed lr \(0\.001\)/],
  [{ model: { nEmbd: 30, nHead: 4 } }, /model\.nEmbd \(30\) must be divisible by model\.nHead \(4\)/],
  [{ model: { nLayer: 0 } }, /model\.nLayer must be an integer >= 1/],
  [{ model: { nLayer: 1.5 } }, /model\.nLayer must be an integer/],
  [{ model: { nHead: 0 } }, /model\.nHead must be an integer >= 1/],
  [{ model: { blockSize: 0 } }, /model\.blockSize must be an integer >= 1/],
  [{ model: { nEmbd: 512, nHead: 2 } }, /head size nEmbd\/nHead = 256 exceeds 128/],
  [{ model: { dropout: 1 } }, /model\.dropout must be in \[0, 1\)/],
  [{ model: { dropout: -0.1 } }, /model\.dropout/],
  [{ seqLen: 128 }, /seqLen \(128\) exceeds model\.blockSize \(64\)/],
  [{ seqLen: 32, model: { blockSize: 16 } }, /seqLen \(32\) exceeds model\.blockSize \(16\)/],
];

test.each(badCombinations)('settings that do not fit together are refused: %j', (overrides, what) => {
  const cfg = applyOverrides(tiny, overrides, 'run.json');
  const message = inputError(() => checkTrainConfig(cfg, 'run.json'));
  expect(message).toMatch(/^run\.json: /);
  expect(message).toMatch(what);
});

test('config files must be JSON objects', () => {
  expect(inputError(() => parseConfigFile('{"batchSize": 2,}', 'run.json'))).toMatch(/^run\.json is not valid JSON/);
  for (const text of ['[1, 2]', 'null', '3', '"tiny"']) expect(inputError(() => parseConfigFile(text, 'run.json'))).toContain('must hold a JSON object');
  expect(parseConfigFile('{"batchSize": 2}', 'run.json')).toEqual({ batchSize: 2 });
});

describe('the CLI resolves preset, then config file, then flags', () => {
  async function configFile(settings: unknown): Promise<string> {
    const path = join(await mkdtemp(join(tmpdir(), 'webtrain-config-')), 'run.json');
    await writeFile(path, JSON.stringify(settings));
    return path;
  }

  test('flags override the file, which overrides the preset', async () => {
    const config = await configFile({ preset: 'small', batchSize: 4, lr: 1e-3, model: { nLayer: 1 } });
    const cfg = await resolveConfig({ config, out: 'unused', batchSize: '2', steps: '7' });
    expect(cfg).toMatchObject({ preset: 'small', batchSize: 2, steps: 7, lr: 1e-3, seqLen: presetConfig('small').seqLen, model: { nLayer: 1 } });
    expect(modelConfigFor(cfg, 1000)).toMatchObject({ nLayer: 1, nEmbd: 256, vocabSize: 1024 });
  });

  test('--preset wins over the file\'s preset', async () => {
    const config = await configFile({ preset: 'small', steps: 3 });
    const cfg = await resolveConfig({ config, preset: 'tiny', out: 'unused' });
    expect(cfg).toMatchObject({ preset: 'tiny', steps: 3, batchSize: tiny.batchSize });
  });

  test('bad files and flags name what is wrong', async () => {
    await expect(resolveConfig({ config: '/nonexistent/run.json', out: 'x' })).rejects.toThrow(/config file \/nonexistent\/run\.json does not exist/);
    await expect(resolveConfig({ steps: 'ten', out: 'x' })).rejects.toThrow(/--steps must be a number, got 'ten'/);
    await expect(resolveConfig({ preset: 'huge', out: 'x' })).rejects.toThrow(InputError);
    const config = await configFile({ preset: 7 });
    await expect(resolveConfig({ config, out: 'x' })).rejects.toThrow(/'preset' must be a string, got 7/);
    const indivisible = await configFile({ model: { nEmbd: 30, nHead: 4 } });
    await expect(resolveConfig({ config: indivisible, out: 'x' })).rejects.toThrow(/model\.nEmbd \(30\) must be divisible by model\.nHead \(4\)/);
    // A file may shrink the block size when a flag shrinks seqLen to fit.
    const shrunk = await configFile({ model: { blockSize: 16 } });
    await expect(resolveConfig({ config: shrunk, out: 'x' })).rejects.toThrow(/seqLen \(64\) exceeds model\.blockSize \(16\)/);
    expect((await resolveConfig({ config: shrunk, seqLen: '16', out: 'x' })).seqLen).toBe(16);
  });
});
