// `node dist/bench.mjs [NAME...] [-- ARGS]`: runs the named benchmarks (all when none is named).
import { useNodePlatform } from '../src/platform/node.js';
import { benches } from './registry.js';

useNodePlatform();
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const names = (dash < 0 ? argv : argv.slice(0, dash)).filter((a) => !a.startsWith('-'));
const args = dash < 0 ? argv.filter((a) => a.startsWith('-')) : argv.slice(dash + 1);
const chosen = names.length ? names : Object.keys(benches);
for (const name of chosen) {
  const load = benches[name];
  if (!load) {
    console.error(`unknown benchmark '${name}'; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.error(`== bench ${name}`);
  await (await load()).run(args);
}
process.exit(0);
