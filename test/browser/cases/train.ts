// Browser-only case (issue 3, item 9): the tiny GPT trains in the page from the browser
// bundle, on whatever adapter Chromium gives (SwiftShader: f32, no shader-f16), writing
// metrics and a checkpoint to the in-memory file system; the loss must fall.
import { testGpu } from '../../helpers/gpu.js';
import { Trainer } from '../../../src/train/trainer.js';
import { applyOverrides, presetConfig } from '../../../src/train/config.js';
import { platform } from '../../../src/platform/index.js';

const gpu = await testGpu();

test('tiny GPT trains in the browser and its loss falls', async () => {
  // A repeating 12-token pattern: a model that learns anything drives the loss down fast.
  const pattern = [3, 9, 4, 17, 5, 22, 8, 30, 11, 2, 14, 6];
  const tokens = Uint32Array.from({ length: 2048 }, (_, i) => pattern[i % pattern.length]);
  const data = { train: tokens, val: tokens.subarray(0, 256), vocabSize: 32, eosId: null };
  const cfg = applyOverrides(presetConfig('tiny'), {
    batchSize: 4, seqLen: 16, steps: 24, lr: 1e-2, warmup: 2, logEvery: 4, evalEvery: 24, evalBatches: 1,
    checkpointEvery: 24, sampleTokens: 0, model: { nLayer: 1, nEmbd: 32, nHead: 2, blockSize: 16 },
  }, 'browser test');
  expect(gpu.caps.f16).toBe(false);
  const trainer = new Trainer(gpu, cfg, { vocabSize: 64, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32, dropout: 0 }, data, 'run');
  await trainer.init(false);
  const result = await trainer.train();
  trainer.dispose();
  expect(result.losses.length).toBe(6);
  expect(result.losses[0]).toBeGreaterThan(3);
  expect(result.losses[5]).toBeLessThan(result.losses[0] * 0.6);
  const metrics = new TextDecoder().decode(await platform().readFile('run/metrics.jsonl')).trim().split('\n').map((l) => JSON.parse(l));
  expect(metrics.some((m) => 'val_loss' in m)).toBe(true);
  expect(await platform().listDir('run')).toContain('ckpt-00000024.safetensors');
});
