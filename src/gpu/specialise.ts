// The one step that turns a WGSL template into a concrete kernel variant.
//
// A template is plain WGSL that refers to names it does not define (types such as
// `T`, constants such as `TILE_M`) plus optional `#if NAME` / `#else` / `#endif`
// lines around variant-only code. A specialisation is a small record:
//   { enable: ['f16'], alias: { T: 'f16' }, const: { TILE_M: 64 }, flags: ['BF16'] }
// which becomes a prelude of `enable`, `alias` and `const` declarations; flags
// select `#if` blocks. Nothing else is substituted, so what runs is what the file says.

export interface Spec {
  enable?: string[];
  alias?: Record<string, string>;
  const?: Record<string, number | boolean>;
  flags?: string[];
}

export function specKey(spec: Spec): string {
  return JSON.stringify([spec.enable ?? [], spec.alias ?? {}, spec.const ?? {}, [...(spec.flags ?? [])].sort()]);
}

function wgslConst(v: number | boolean): string {
  if (typeof v === 'boolean') return `${v}`;
  if (Number.isInteger(v) && v >= 0) return `${v}u`;
  if (Number.isInteger(v)) return `${v}i`;
  return `${v}f`;
}

/** Applies `#if/#else/#endif` blocks (nestable) for the given flags. */
export function preprocess(source: string, flags: Iterable<string>): string {
  const on = new Set(flags);
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean }[] = [];
  const lines = source.split('\n');
  lines.forEach((line, i) => {
    const t = line.trim();
    const m = /^#if\s+(!?)(\w+)$/.exec(t);
    const active = stack.length === 0 || stack[stack.length - 1].active;
    if (t.startsWith('#')) out.push(''); // directives leave blank lines: line numbers stay the template's
    if (m) {
      const cond = on.has(m[2]) !== (m[1] === '!');
      stack.push({ active: active && cond, parentActive: active });
    } else if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`WGSL template line ${i + 1}: #else without #if`);
      top.active = top.parentActive && !top.active;
    } else if (t === '#endif') {
      if (!stack.pop()) throw new Error(`WGSL template line ${i + 1}: #endif without #if`);
    } else if (t.startsWith('#')) {
      throw new Error(`WGSL template line ${i + 1}: unknown directive ${t}`);
    } else if (active) {
      out.push(line);
    } else {
      out.push(''); // keep line numbers stable for compiler messages
    }
  });
  if (stack.length) throw new Error('WGSL template: #if without #endif');
  return out.join('\n');
}

export function specialise(template: string, spec: Spec): string {
  const prelude = [
    ...(spec.enable ?? []).map((e) => `enable ${e};`),
    ...Object.entries(spec.alias ?? {}).map(([k, v]) => `alias ${k} = ${v};`),
    ...Object.entries(spec.const ?? {}).map(([k, v]) => `const ${k} = ${wgslConst(v)};`),
  ];
  return prelude.join('\n') + '\n' + preprocess(template, spec.flags ?? []);
}
