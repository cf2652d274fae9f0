/**
 * `npm run fetch-nsynth`: download an NSynth split from Magenta's host (resumable), extract it and
 * check it. Thin: parse, call src/nsynth/download, print a summary, set the exit code.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { createProgress, type Progress } from '../src/cli/progress.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { DownloadError, fetchNsynth, nsynthUrl, type NsynthForm, type NsynthSplit } from '../src/nsynth/download.ts';
import { NsynthError } from '../src/nsynth/meta.ts';

export interface FetchNsynthMainHooks {
  readonly retryDelayMs?: number;
  readonly idleTimeoutMs?: number;
}

/** Runs the command; returns the exit code. */
export async function fetchNsynthMain(argv: readonly string[], hooks: FetchNsynthMainHooks = {}): Promise<number> {
  const args = await parseArgs(argv, 'npm run fetch-nsynth --', `$0 [options]\n\nDownload an NSynth split (default: the test split, ${nsynthUrl('test', 'jsonwav')}),\n` +
    'resume it if interrupted, extract it and check it. The result is what eval-nsynth reads.', (y) =>
    y.options({
      split: { type: 'string', default: 'test', choices: ['test', 'valid', 'train'], describe: 'which split' },
      form: { type: 'string', default: 'jsonwav', choices: ['jsonwav', 'tfrecord'], describe: 'jsonwav (.tar.gz of examples.json + WAVs) or a single .tfrecord file' },
      out: { type: 'string', default: path.join('datasets', 'nsynth'), describe: 'folder receiving nsynth-<split>/ or nsynth-<split>.tfrecord' },
      url: { type: 'string', describe: 'download from here instead of the official host (a mirror)' },
      force: { type: 'boolean', default: false, describe: 'download again even if a valid split is in place' },
      'keep-archive': { type: 'boolean', default: false, describe: 'keep the .tar.gz after extraction' },
      retries: { type: 'number', default: 5, describe: 'requests tried before giving up (each resumes the last)' },
      quiet: { type: 'boolean', default: false, describe: 'no progress output' },
    }),
  );
  if (args === null) return 0;
  if (!Number.isInteger(args.retries) || args.retries < 1 || args.retries > 100) throw new UserError(`--retries must be a whole number 1–100, got ${args.retries}`);
  const interrupt = onInterrupt('fetch-nsynth', 'stopping; the partial download is kept and resumes next time');
  let progress: Progress | null = null;
  let progressTotalMb = -1;
  const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
  try {
    const result = await fetchNsynth({
      split: args.split as NsynthSplit,
      form: args.form as NsynthForm,
      outDir: args.out,
      url: args.url,
      force: args.force,
      keepArchive: args['keep-archive'],
      maxAttempts: args.retries,
      retryDelayMs: hooks.retryDelayMs,
      idleTimeoutMs: hooks.idleTimeoutMs,
      signal: interrupt.signal,
      onProgress: (done, total) => {
        const totalMb = total === null ? 0 : mb(total);
        if (progress === null || totalMb !== progressTotalMb) {
          progress?.stop();
          progressTotalMb = totalMb;
          progress = createProgress({ label: 'fetch-nsynth', unit: 'MB', total: totalMb, quiet: args.quiet });
        }
        progress.update(mb(done));
      },
    }).catch((e: unknown) => {
      if (interrupt.signal.aborted) return null;
      if (e instanceof DownloadError || e instanceof NsynthError) throw new UserError(e.message);
      throw e;
    });
    (progress as Progress | null)?.stop();
    if (result === null) {
      process.stderr.write('fetch-nsynth: interrupted; the partial download is kept. Run the same command to resume.\n');
      return EXIT_INTERRUPTED;
    }
    const where = path.relative(process.cwd(), result.datasetPath) || '.';
    const how = result.alreadyPresent
      ? 'already in place (use --force to download again)'
      : `downloaded ${mb(result.download?.bytes ?? 0)} MB in ${result.download?.attempts ?? 0} request(s)` +
        `${(result.download?.resumedFromBytes ?? 0) > 0 ? `, resumed from ${mb(result.download?.resumedFromBytes ?? 0)} MB` : ''}`;
    process.stdout.write(`fetch-nsynth: ${result.notes} notes → ${where} (${how})\n`);
    for (const w of result.warnings) process.stderr.write(`fetch-nsynth: warning: ${w}\n`);
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('fetch-nsynth', () => fetchNsynthMain(hideBin(process.argv)));
}
