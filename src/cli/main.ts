// The `webtrain` command. Each sub-command lives in its own module and registers itself here.
import { Command } from 'commander';
import { useNodePlatform } from '../platform/node.js';
import { WebtrainError } from '../errors.js';
import { registerInfo } from './info.js';
import { registerPrepare } from './prepare.js';
import { registerBench } from './bench.js';
import { registerTokenizer } from './tokenizer.js';
import { registerNgram } from './ngram.js';
import { registerTrain } from './train.js';
import { registerGenerate } from './generate.js';

useNodePlatform();

const program = new Command('webtrain')
  .description('Train and study language models on WebGPU')
  .version('0.1.0')
  .showHelpAfterError();

registerInfo(program);
registerPrepare(program);
registerBench(program);
registerTokenizer(program);
registerNgram(program);
registerTrain(program);
registerGenerate(program);

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    if (err instanceof WebtrainError) {
      console.error(`webtrain: ${err.message}`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);
