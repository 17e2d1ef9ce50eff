// Browser-only case: the page's platform is the in-memory one from src/platform/browser.ts,
// which checkpoints and metrics go through when training runs in a browser.
import { testGpu } from '../../helpers/gpu.js';
import { platform } from '../../../src/platform/index.js';

await testGpu(); // installs the test platform

test('the browser platform keeps files in memory: atomic writes, appends, listing and removal', async () => {
  const fs = platform();
  expect(fs.name).toBe('browser');
  await fs.writeFileAtomic('run/ckpt/step-1.safetensors', new Uint8Array([1, 2, 3]));
  await fs.writeFileAtomic('run/ckpt/step-1.safetensors', new Uint8Array([4, 5]));
  await fs.appendFile('run/metrics.jsonl', '{"step":1}\n');
  await fs.appendFile('run/metrics.jsonl', '{"step":2}\n');
  expect(Array.from(await fs.readFile('run/ckpt/step-1.safetensors'))).toEqual([4, 5]);
  expect(new TextDecoder().decode(await fs.readFile('run/metrics.jsonl'))).toBe('{"step":1}\n{"step":2}\n');
  expect((await fs.listDir('run')).sort()).toEqual(['ckpt', 'metrics.jsonl']);
  expect(await fs.exists('run/ckpt')).toBe(true);
  await fs.remove('run/ckpt');
  expect(await fs.exists('run/ckpt')).toBe(false);
  await expect(fs.readFile('run/ckpt/step-1.safetensors')).rejects.toThrow(/no file run\/ckpt\/step-1.safetensors/);
  await fs.remove('run');
});
