// `webtrain bench NAME [args...]`: the benchmarks of bench/, from the CLI.
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { benches } from '../../bench/registry.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(`run a benchmark (${Object.keys(benches).join(', ') || 'none yet'}); extra flags go to it, e.g. --json`)
    .argument('<name>', 'benchmark name')
    .allowUnknownOption(true)
    .argument('[args...]', 'arguments for the benchmark')
    .action(async (name: string, args: string[]) => {
      const load = benches[name];
      if (!load) throw new InputError(`unknown benchmark '${name}'; known: ${Object.keys(benches).join(', ')}`);
      await (await load()).run(args);
    });
}
