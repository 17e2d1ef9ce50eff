// One definition of how non-JS assets become modules, shared by esbuild (scripts/build.mjs)
// and vitest (vitest.config.ts), so kernels and Wasm are identical in Node, browser and tests.
import { readFileSync } from 'node:fs';

export const esbuildLoaders = { '.wgsl': 'text', '.wasm': 'binary' };

export function assetModule(id) {
  if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  if (id.endsWith('.wasm')) {
    const b64 = readFileSync(id).toString('base64');
    return `const s = atob(${JSON.stringify(b64)}); const b = new Uint8Array(s.length);` +
      ` for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i); export default b;`;
  }
  return null;
}
