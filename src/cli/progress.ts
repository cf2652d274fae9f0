/**
 * Progress reporting for long commands: a live bar with rate and ETA on a terminal, and on a pipe
 * or CI log a plain line every few seconds (a redrawn bar would flood the log).
 */
import cliProgress from 'cli-progress';

/** A progress reporter. */
export interface Progress {
  /** Sets the absolute count of finished units. */
  update(done: number, extra?: Record<string, string | number>): void;
  /** Ends the bar (leaves the last state on screen). */
  stop(): void;
}

/** Options of `createProgress`. */
export interface ProgressOptions {
  /** Label before the bar, e.g. 'render'. */
  readonly label: string;
  /** Units, e.g. 'patches'. */
  readonly unit: string;
  /** Total units. */
  readonly total: number;
  /** Print nothing. */
  readonly quiet?: boolean;
  /** Stream to draw on (stderr, so stdout stays clean for summaries). */
  readonly stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when not on a terminal. */
  readonly logEverySec?: number;
}

/** "42s", "2m05s", "1h07m": whole seconds, rounded once so that 119.6 s reads 2m00s, never 1m60s. */
export function formatEta(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Creates a progress reporter suited to where the output goes. */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update: () => undefined, stop: () => undefined };
  const t0 = performance.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${opts.label} [{bar}] {percentage}% {value}/{total} ${opts.unit} | {rate}/s | ETA {eta_formatted}{extra}`,
        barsize: 30,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    // The bar starts at the first reported value, so a resumed run's rate and ETA count only
    // the work done now, not the units finished before.
    let base: { done: number; t: number } | null = null;
    return {
      update(done, extra) {
        if (base === null) {
          base = { done: Math.max(0, done - 1), t: performance.now() };
          bar.start(opts.total, base.done, { rate: '0', extra: '' });
        }
        const sec = (performance.now() - base.t) / 1000;
        const tail = extra ? ` | ${Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' ')}` : '';
        bar.update(done, { rate: sec > 0 ? ((done - base.done) / sec).toFixed(1) : '0', extra: tail });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const every = (opts.logEverySec ?? 5) * 1000;
  let last = t0;
  let lastDone = -1;
  let base: { done: number; t: number } | null = null;
  const line = (done: number, extra?: Record<string, string | number>): void => {
    base ??= { done: 0, t: t0 };
    const sec = (performance.now() - base.t) / 1000;
    const rate = sec > 0 ? (done - base.done) / sec : 0;
    const eta = rate > 0 ? (opts.total - done) / rate : NaN;
    const tail = extra ? ` | ${Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' ')}` : '';
    stream.write(`${opts.label}: ${done}/${opts.total} ${opts.unit} (${((100 * done) / Math.max(1, opts.total)).toFixed(0)}%) | ${rate.toFixed(1)}/s | ETA ${formatEta(eta)}${tail}\n`);
    lastDone = done;
  };
  return {
    update(done, extra) {
      const now = performance.now();
      base ??= { done: Math.max(0, done - 1), t: now };
      if (now - last >= every) {
        last = now;
        line(done, extra);
      }
    },
    stop() {
      /* the summary line follows; a final progress line would repeat it */
      void lastDone;
    },
  };
}
