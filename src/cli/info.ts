// `webtrain info`: the adapter, its features and limits.
import type { Command } from 'commander';
import { Gpu } from '../gpu/device.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the WebGPU adapter, its features and limits')
    .option('--json', 'one JSON object instead of text')
    .action(async (opts: { json?: boolean }) => {
      const gpu = await Gpu.create();
      const caps = gpu.caps;
      if (opts.json) {
        console.log(JSON.stringify(caps));
      } else {
        console.log(`adapter:   ${caps.adapter.vendor} ${caps.adapter.architecture} ${caps.adapter.device} ${caps.adapter.description}`.trimEnd());
        console.log(`f16:       ${caps.f16 ? 'yes' : 'no'}`);
        console.log(`subgroups: ${caps.subgroups ? `yes (sizes ${caps.subgroupMinSize}..${caps.subgroupMaxSize})` : 'no'}`);
        console.log(`subgroup-matrix: ${caps.subgroupMatrix.length ? caps.subgroupMatrix.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') : 'no'}`);
        console.log(`timestamps: ${caps.timestamps ? 'yes' : 'no'}`);
        console.log('limits:');
        for (const [k, v] of Object.entries(caps.limits)) console.log(`  ${k}: ${v}`);
      }
      gpu.destroy();
    });
}
