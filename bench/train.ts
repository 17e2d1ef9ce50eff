// `bench train`: GPT training throughput (tokens/s, step time and the CPU time spent recording a
// step, peak GPU memory, model FLOP utilisation) for the presets, the per-kernel profile of one
// step from timestamp queries, and, with --torch, the PyTorch reference (bench/train_torch.py) in
// the same run.
// Flags: --presets small,gpt2-124m  --precision f16,f32  --steps N  --torch  --json
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Gpu } from '../src/gpu/device.js';
import { Trainer } from '../src/train/trainer.js';
import { applyOverrides, presetConfig, type Precision } from '../src/train/config.js';
import { MODEL_PRESETS, padVocab, type GptConfig } from '../src/models/config.js';
import { Rng } from '../src/tensor/random.js';

const SHAPES: Record<string, { B: number; T: number; V: number }> = {
  small: { B: 32, T: 256, V: 8192 },
  'gpt2-124m': { B: 16, T: 1024, V: 50257 },
};
/** Dense peak of the H100 SXM (TFLOP/s) per precision, for utilisation figures. */
const PEAK_TFLOPS: Record<Precision, number> = { f16: 989, bf16: 989, f32: 67 };

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith('--') ? args[i + 1] : fallback;
}

export async function run(args: string[]): Promise<void> {
  const presets = flag(args, 'presets', 'small,gpt2-124m').split(',');
  const precisions = flag(args, 'precision', 'f16,f32').split(',') as Precision[];
  const steps = Number(flag(args, 'steps', '10'));
  const json = args.includes('--json');
  const gpu = await Gpu.create();
  console.error(`device: ${gpu.caps.adapter.vendor} ${gpu.caps.adapter.architecture} ${gpu.caps.adapter.description}`);
  for (const preset of presets) {
    const shape = SHAPES[preset];
    if (!shape) throw new Error(`unknown preset ${preset}; known: ${Object.keys(SHAPES).join(', ')}`);
    const model: GptConfig = { ...MODEL_PRESETS[preset], vocabSize: padVocab(shape.V) };
    const rng = new Rng(1);
    const tokens = Uint32Array.from({ length: shape.B * shape.T * 4 + 1 }, () => rng.int(shape.V));
    const data = { train: tokens, val: tokens, vocabSize: shape.V, eosId: null };
    let ours: Record<string, number> = {};
    for (const precision of precisions) {
      if (precision === 'f16' && !gpu.caps.f16) continue;
      const cfg = applyOverrides(presetConfig(preset), { batchSize: shape.B, seqLen: shape.T, precision, steps: 1e6, evalEvery: 0, checkpointEvery: 0 }, 'bench');
      const trainer = new Trainer(gpu, cfg, model, data, null);
      await trainer.init(false);
      // Warm up for at least 3 steps and 0.5 s: from idle the H100 needs a while to reach its
      // working clock, longer than a few of the small model's steps.
      const warm = performance.now();
      for (let i = 0; i < 3 || performance.now() - warm < 500; i++) {
        trainer.step().loss.dispose();
        if (i >= 2) await gpu.sync();   // past the first three, the clock counts finished steps
      }
      // Timed: `steps` steps, or more to fill about three seconds, judged from one step run alone
      // (on the H100, GPT-2 f16 over 10 steps, about one second, ranged 105-116 ms per step
      // between runs of one build; over 30, 102-103).
      const p0 = performance.now();
      trainer.step().loss.dispose();
      await gpu.sync();
      const count = Math.max(steps, Math.min(300, Math.ceil(3000 / (performance.now() - p0))));
      gpu.pool.peak = gpu.pool.inUse;
      const t0 = performance.now();
      let last = null;
      let hostMs = 0;   // time spent recording steps on the CPU (the GPU runs behind)
      for (let i = 0; i < count; i++) {
        last?.dispose();
        const h0 = performance.now();
        last = trainer.step().loss;
        hostMs += performance.now() - h0;
      }
      const loss = await last!.item();
      last!.dispose();
      const stepMs = (performance.now() - t0) / count;
      gpu.startProfile();
      trainer.step().loss.dispose();
      const profile = await gpu.stopProfile();
      const tokensPerS = (shape.B * shape.T) / (stepMs / 1000);
      const tflops = trainer.flopsPerStep() / (stepMs / 1000) / 1e12;
      const line = {
        op: 'train', preset, precision, B: shape.B, T: shape.T, tokens_per_s: Math.round(tokensPerS), step_ms: +stepMs.toFixed(2),
        host_ms: +(hostMs / count).toFixed(2), steps: count,
        peak_mem_gib: +(gpu.pool.peak / 2 ** 30).toFixed(2), model_tflops: +tflops.toFixed(1),
        mfu: +(tflops / PEAK_TFLOPS[precision]).toFixed(3), loss: +loss.toFixed(4),
      };
      ours[precision] = tokensPerS;
      console.log(json ? JSON.stringify(line) : `${preset} ${precision}: ${line.tokens_per_s} tok/s, ${line.step_ms} ms/step (${line.host_ms} ms recording), ` +
        `peak ${line.peak_mem_gib} GiB, ${line.model_tflops} TFLOP/s (MFU ${(line.mfu * 100).toFixed(1)}%), loss ${line.loss}`);
      // Kernels (the part of a profile name before the first space; GEMMs are also named by
      // shape) by share of the step, then the GEMM shapes on their own lines.
      const total = [...profile.ns.values()].reduce((a, b) => a + b, 0);
      const kernels = new Map<string, { ns: number; calls: number; shapes: [string, number, number][] }>();
      for (const [name, ns] of profile.ns) {
        const [kernel, ...rest] = name.split(' ');
        const k = kernels.get(kernel) ?? { ns: 0, calls: 0, shapes: [] };
        k.ns += ns;
        k.calls += profile.count.get(name)!;
        if (rest.length) k.shapes.push([rest.join(' '), ns, profile.count.get(name)!]);
        kernels.set(kernel, k);
      }
      for (const [name, k] of [...kernels].sort((a, b) => b[1].ns - a[1].ns).slice(0, 14)) {
        const entry = { op: 'profile', preset, precision, kernel: name, ms: +(k.ns / 1e6).toFixed(3), share: +(k.ns / total).toFixed(3), calls: k.calls };
        console.log(json ? JSON.stringify(entry) : `  ${name.padEnd(28)} ${entry.ms.toFixed(2).padStart(8)} ms ${(entry.share * 100).toFixed(1).padStart(5)}%  x${entry.calls}`);
        for (const [shape, ns, calls] of k.shapes.sort((a, b) => b[1] - a[1])) {
          const flops = 2 * shape.split(' ')[0].split('x').map(Number).reduce((a, b) => a * b, 1) * calls;
          const e = { op: 'profile_shape', preset, precision, kernel: name, shape, ms: +(ns / 1e6).toFixed(3), calls, tflops: +(flops / ns / 1e3).toFixed(1) };
          console.log(json ? JSON.stringify(e) : `    ${shape.padEnd(26)} ${e.ms.toFixed(2).padStart(8)} ms  x${calls}  ${e.tflops} TFLOP/s`);
        }
      }
      trainer.dispose();
      gpu.pool.trim();
    }
    if (args.includes('--torch')) {
      const script = existsSync('bench/train_torch.py') ? 'bench/train_torch.py' : new URL('../bench/train_torch.py', import.meta.url).pathname;
      const conf = { L: model.nLayer, d: model.nEmbd, H: model.nHead, T: shape.T, B: shape.B, V: model.vocabSize, steps: 20, modes: ['fp32', 'bf16'] };
      const r = spawnSync('python3', [script, JSON.stringify(conf)], { encoding: 'utf8' });
      if (r.status !== 0) { console.error(`torch reference failed: ${r.stderr}`); continue; }
      for (const l of r.stdout.trim().split('\n')) {
        const t = JSON.parse(l);
        const entry = { op: 'train_torch', preset, ...t, ratio_f16_vs_this: ours.f16 ? +(ours.f16 / t.tokens_per_s).toFixed(3) : null, ratio_f32_vs_this: ours.f32 ? +(ours.f32 / t.tokens_per_s).toFixed(3) : null };
        console.log(json ? JSON.stringify(entry) : `torch ${preset} ${t.mode}: ${Math.round(t.tokens_per_s)} tok/s, ${t.step_ms.toFixed(1)} ms/step, peak ${t.peak_mem_gib.toFixed(2)} GiB; ours f16/torch ${entry.ratio_f16_vs_this}, f32/torch ${entry.ratio_f32_vs_this}`);
      }
    }
  }
  gpu.destroy();
}
