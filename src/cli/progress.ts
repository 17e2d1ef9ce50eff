// Progress bars for long work (cli-progress), silent when stderr is not a terminal
// so logs and CI output stay clean.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/** A bar over `total` units; `extra` names payload fields shown after the bar (e.g. 'loss'). */
export function progressBar(label: string, total: number, extra: string[] = [], unit = ''): Progress {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const fields = extra.map((k) => `${k} {${k}}`).join(' | ');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total}${unit} | ETA {eta_formatted}${fields ? ' | ' + fields : ''}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, Object.fromEntries(extra.map((k) => [k, '-'])));
  return { update: (done, payload) => bar.update(done, payload), stop: () => bar.stop() };
}
