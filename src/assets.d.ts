// Asset imports resolved at bundle time (esbuild loaders; the vitest plugin in vitest.config.ts does the same).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
declare module '*.wasm' {
  const bytes: Uint8Array;
  export default bytes;
}
