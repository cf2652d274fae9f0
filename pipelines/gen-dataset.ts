/**
 * `npm run gen-dataset`: random FM patches rendered to a dataset folder (spec §1–3).
 * Thin: parse, validate into a config, call src/dataset, print a summary, set the exit code.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { createProgress } from '../src/cli/progress.ts';
import { parseArgs, onInterrupt } from '../src/cli/args.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { datasetName, DEFAULT_DATASET_CONFIG, makeDatasetConfig } from '../src/dataset/config.ts';
import { DatasetError, generateDataset } from '../src/dataset/generate.ts';
import { parseShard } from '../src/dataset/layout.ts';
import { ALGORITHM_NAMES } from '../src/synth/algorithms.ts';
import { defaultWorkerCount } from '../src/parallel/pool.ts';

/** Runs the command; returns the exit code. */
export async function genDatasetMain(argv: readonly string[]): Promise<number> {
  const args = await parseArgs(argv, 'npm run gen-dataset --', '$0 [options]\n\nRender random 6-operator FM patches (48 kHz, decimated to 16 kHz) into a dataset folder:\naudio/<id>.wav, params.csv and manifest.json.', (y) =>
    y.options({
      count: { type: 'number', default: DEFAULT_DATASET_CONFIG.count, describe: 'number of patches' },
      seed: { type: 'number', default: DEFAULT_DATASET_CONFIG.seed, describe: 'dataset seed; patch i depends only on (seed, i)' },
      algorithm: { type: 'string', default: DEFAULT_DATASET_CONFIG.algorithm, describe: `operator routing: ${ALGORITHM_NAMES.slice(0, 2).join(', ')}, dx7-1 … dx7-32` },
      feedback: { type: 'number', default: DEFAULT_DATASET_CONFIG.feedback, describe: 'DX7 feedback amount 0…7 (dx7-* algorithms only)' },
      nyquist: { type: 'string', default: DEFAULT_DATASET_CONFIG.nyquist, choices: ['keep', 'redraw'], describe: 'modulators above 24 kHz: keep them (paper) or redraw the ratios' },
      out: { type: 'string', describe: 'output folder [default: datasets/<name from the config>]' },
      workers: { type: 'number', default: defaultWorkerCount(), describe: 'worker threads (0: render in the main thread)' },
      shard: { type: 'string', describe: 'only the slice i/N of the ids (0-based), so several machines can build one dataset' },
      resume: { type: 'boolean', default: false, describe: 'complete an interrupted or sharded dataset in --out' },
      force: { type: 'boolean', default: false, describe: 'replace a dataset made with another config in --out' },
      quiet: { type: 'boolean', default: false, describe: 'no progress output' },
    }),
  );
  if (args === null) return 0;
  let config;
  try {
    config = makeDatasetConfig({
      count: args.count,
      seed: args.seed,
      algorithm: args.algorithm,
      feedback: args.feedback,
      nyquist: args.nyquist as 'keep' | 'redraw',
    });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const shard = args.shard !== undefined ? parseShard(args.shard) : null;
  if (!Number.isInteger(args.workers) || args.workers < 0) throw new UserError(`--workers must be a whole number ≥ 0, got ${args.workers}`);
  const dir = path.resolve(args.out ?? path.join('datasets', datasetName(config)));

  const interrupt = onInterrupt('gen-dataset', 'stopping after the patches in flight');
  let progress: ReturnType<typeof createProgress> | null = null;
  try {
    const summary = await generateDataset(config, {
      dir,
      workers: args.workers,
      shard,
      resume: args.resume,
      force: args.force,
      signal: interrupt.signal,
      onProgress: (done, total) => {
        progress ??= createProgress({ label: 'gen-dataset', unit: 'patches', total, quiet: args.quiet });
        progress.update(done);
      },
    }).catch((e: unknown) => {
      if (e instanceof DatasetError) throw new UserError(e.message);
      throw e;
    });
    (progress as ReturnType<typeof createProgress> | null)?.stop();
    // Verifying renders too (each kept file is compared with its re-render), so every note counts.
    const notes = summary.rendered + summary.repaired.length + summary.reused;
    const speed = summary.seconds > 0 ? (notes * config.durationSec) / summary.seconds : 0;
    const damaged = summary.repaired.length;
    // The first names are enough to find the cause (a bad copy, a full disk); the count says the rest.
    const shown = summary.repaired.slice(0, 10).join(', ') + (damaged > 10 ? ` and ${damaged - 10} more` : '');
    const repairs = damaged > 0 ? `, re-rendered ${damaged} damaged file${damaged === 1 ? '' : 's'}: ${shown}` : '';
    const state = summary.complete ? `complete, ${summary.contentHash}` : `${summary.present}/${summary.count} present`;
    const nyq = config.nyquist === 'keep' ? `${summary.aboveNyquist} with a modulator above 24 kHz (kept)` : 'none above 24 kHz (redrawn)';
    process.stdout.write(
      `gen-dataset: ${summary.rendered} rendered, ${summary.reused} verified${repairs} in ${summary.seconds.toFixed(1)} s` +
        `${notes > 0 ? ` (${Math.round(speed)}× real time, ${args.workers} workers)` : ''} → ${path.relative(process.cwd(), dir) || '.'} [${state}]; ${nyq}` +
        `${summary.complete ? `, ${summary.clipped} reach full scale` : ''}; peak memory ${Math.round(process.resourceUsage().maxRSS / 1024)} MB\n`,
    );
    if (summary.interrupted) {
      process.stderr.write('gen-dataset: interrupted; what was written is kept. Run the same command with --resume to finish.\n');
      return EXIT_INTERRUPTED;
    }
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('gen-dataset', () => genDatasetMain(hideBin(process.argv)));
}
