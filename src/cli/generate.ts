// `webtrain generate` and `webtrain eval`: use a trained run's newest checkpoint.
import type { Command } from 'commander';
import { Gpu } from '../gpu/device.js';
import { platform } from '../platform/index.js';
import { InputError } from '../errors.js';
import { Var } from '../tensor/autograd.js';
import { Gpt } from '../models/gpt.js';
import type { GptConfig } from '../models/config.js';
import { loadLatestCheckpoint } from '../train/checkpoint.js';
import { applyOverrides } from '../train/config.js';
import { tokenizerFromFile } from '../train/data.js';
import { sampleText } from '../train/generate.js';
import { validationLoss } from '../train/trainer.js';
import { checkSplits } from '../data/batches.js';
import { trainingData } from './train.js';
import { numberFlag } from './flags.js';

async function loadRun(gpu: Gpu, dir: string) {
  const ck = await loadLatestCheckpoint(gpu, dir);
  const config = JSON.parse(ck.metadata.model_config) as GptConfig;
  const model = new Gpt(gpu, config);
  const weights = new Map<string, Var>();
  for (const s of model.specs) {
    const t = ck.tensors.get('model.' + s.name);
    if (!t) throw new InputError(`${dir}: the checkpoint lacks weight ${s.name}; it is not a complete webtrain run`);
    weights.set(s.name, new Var(t, false, s.name));
  }
  for (const [k, t] of ck.tensors) if (!k.startsWith('model.')) t.dispose();
  return { ck, model, weights };
}

const num = (name: string, v: string | undefined, fallback: number) => numberFlag(name, v) ?? fallback;

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('continue a prompt with a trained model')
    .requiredOption('--checkpoint <dir>', 'a training run directory (its newest checkpoint is used)')
    .requiredOption('--prompt <text>', 'text to continue')
    .option('--max-tokens <n>', 'tokens to generate', '100')
    .option('--temperature <t>', '0 for greedy', '0.8')
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', '40')
    .option('--top-p <p>', 'nucleus sampling mass', '1')
    .option('--repetition-penalty <r>', 'divide logits of tokens already present', '1')
    .option('--seed <s>', 'sampling seed', '0')
    .action(async (o: Record<string, string>) => {
      const tokPath = `${o.checkpoint}/tokenizer.json`;
      if (!(await platform().exists(tokPath))) throw new InputError(`${o.checkpoint} has no tokenizer.json; was it made by webtrain train?`);
      const tokenizer = await tokenizerFromFile(tokPath);
      const gpu = await Gpu.create();
      const { model, weights } = await loadRun(gpu, o.checkpoint);
      const text = await sampleText(gpu, model, weights, tokenizer, o.prompt, {
        maxTokens: num('max-tokens', o.maxTokens, 100), temperature: num('temperature', o.temperature, 0.8),
        topK: num('top-k', o.topK, 40), topP: num('top-p', o.topP, 1), repetitionPenalty: num('repetition-penalty', o.repetitionPenalty, 1),
        seed: num('seed', o.seed, 0),
      });
      console.log(o.prompt + text);
      gpu.destroy();
    });

  program
    .command('eval')
    .description('validation loss and perplexity of a trained run')
    .requiredOption('--checkpoint <dir>', 'a training run directory')
    .option('--data <dir>', 'token shards (default: the data the run was trained on)')
    .option('--batches <n>', 'evaluation batches')
    .action(async (o: { checkpoint: string; data?: string; batches?: string }) => {
      const gpu = await Gpu.create();
      const { ck, model, weights } = await loadRun(gpu, o.checkpoint);
      const batches = o.batches === undefined ? undefined : num('batches', o.batches, 0);
      const cfg = applyOverrides(JSON.parse(ck.metadata.train_config), { evalBatches: batches }, 'flags');
      const data = await trainingData(o.data ?? (ck.metadata.data || undefined));
      const modelConfig = JSON.parse(ck.metadata.model_config) as GptConfig;
      if (data.vocabSize > modelConfig.vocabSize) {
        throw new InputError(`the data's vocabulary (${data.vocabSize} tokens) is larger than the model's (${modelConfig.vocabSize}); evaluate on data made with the run's tokenizer`);
      }
      checkSplits(data, cfg.seqLen);
      // The checkpoint's f32 master weights, whatever precision the run trained in.
      const loss = await validationLoss(model, weights, data.val, cfg);
      console.log(JSON.stringify({ step: ck.step, val_loss: loss, val_ppl: Math.exp(loss) }));
      for (const v of weights.values()) v.value.dispose();
      gpu.destroy();
    });
}
