import { textWasm } from '../src/text/wasm.js';
import { ngramWasm } from '../src/ngram/wasm.js';

test('both Wasm modules load and report their ABI version', async () => {
  expect((await textWasm()).abiVersion()).toBe(1);
  expect((await ngramWasm()).abiVersion()).toBe(1);
});
