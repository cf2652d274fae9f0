/**
 * `npm run train-ddx7`: trains DDX7 (pitch + loudness → TCN → fixed-routing FM + reverb) on one
 * instrument's audio. Thin: parse, load the corpus, start the backend, call src/model, print, exit code.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { createProgress } from '../src/cli/progress.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { BACKEND_CHOICES, type BackendChoice, describeBackend, initBackend } from '../src/model/backend.ts';
import { DEFAULT_DDX7_CONFIG, type Ddx7Config } from '../src/model/ddx7.ts';
import { checkDdx7OutDir, countDdx7Skips, type Ddx7Skip, Ddx7TrainError, describeDdx7Skips, loadDdx7Corpus, resolveDdx7Features, trainDdx7, type TrainDdx7Config } from '../src/model/train-ddx7.ts';
import { writeFileAtomic } from '../src/dataset/patch-file.ts';
import { skippedCsv } from '../src/report/csv.ts';
import { DDX7_PATCH_NAMES, ddx7Patch, UnknownPatchError } from '../src/synth/ddx7-patches.ts';

export async function trainDdx7Main(argv: readonly string[]): Promise<number> {
  const d = DEFAULT_DDX7_CONFIG;
  const args = await parseArgs(argv, 'npm run train-ddx7 --', '$0 --data <folder> --patch flute|violin|trumpet|<ablation> [options]\n\nTrain DDX7 (Caspe et al. 2022): a causal TCN maps f0 and loudness frames (250/s) to the output levels of a\nfixed DX7 patch, plus a learnable reverb, by a multi-scale spectral loss. --data is an NSynth jsonwav folder\n(examples.json + audio/) or a folder of 16 kHz mono WAVs. Writes ddx7.json, weights.{json,bin}, checkpoint/ and skipped.csv into --out.', (y) =>
    y.options({
      data: { type: 'string', demandOption: true, describe: 'NSynth-layout folder or folder of 16 kHz mono WAVs' },
      patch: { type: 'string', default: 'flute', describe: `FM configuration: ${DDX7_PATCH_NAMES.join(', ')}` },
      out: { type: 'string', describe: 'output folder [default: models/ddx7_<patch>_seed<seed>]' },
      families: { type: 'string', describe: 'NSynth layouts: comma-separated families to keep, e.g. flute' },
      instrument: { type: 'string', describe: 'NSynth layouts: keep one instrument_str, e.g. flute_acoustic_002' },
      limit: { type: 'number', describe: 'try at most this many files / notes (unreadable ones count)' },
      'excerpt-sec': { type: 'number', default: 1, describe: 'excerpt length, s (paper: 4; short makes CPU training practical)' },
      'hop-sec': { type: 'number', describe: 'start-to-start distance of excerpts, s (shorter than --excerpt-sec: overlapping excerpts) [default: --excerpt-sec]' },
      steps: { type: 'number', default: 2000, describe: 'total training steps (paper: 120 k)' },
      batch: { type: 'number', default: 4, describe: 'excerpts per step (paper: 16)' },
      lr: { type: 'number', default: 3e-4, describe: 'Adam learning rate' },
      'decay-every': { type: 'number', default: 10000, describe: 'multiply the rate by --decay-rate every this many steps' },
      'decay-rate': { type: 'number', default: 0.98, describe: 'learning-rate decay factor' },
      clip: { type: 'number', default: 2, describe: 'global gradient-norm clip' },
      'i-max': { type: 'number', describe: 'maximum modulation index, rad [default: the patch\'s: 2, or 2π for trumpet]' },
      channels: { type: 'number', default: d.channels, describe: 'TCN channels (paper: 128)' },
      dropout: { type: 'number', default: d.dropout, describe: 'TCN dropout rate (paper: 0.5)' },
      reverb: { type: 'boolean', default: true, describe: 'learnable reverb (--no-reverb turns it off)' },
      'reverb-sec': { type: 'number', default: d.reverbSec, describe: 'reverb impulse response length, s (paper: 1)' },
      'silence-db': { type: 'number', default: -60, describe: 'skip excerpts in which no frame is louder than this, dB (DDX7 loudness: notes sit near −55, silence at −80)' },
      'min-confidence': { type: 'number', default: 0.85, describe: 'skip excerpts whose mean f0 confidence is below this (WAV folders; NSynth notes use their metadata pitch)' },
      'checkpoint-every': { type: 'number', default: 100, describe: 'steps between checkpoints' },
      seed: { type: 'number', default: 0, describe: 'seed of the weights and batches' },
      backend: { type: 'string', default: 'auto', choices: [...BACKEND_CHOICES], describe: 'tfjs backend' },
      threads: { type: 'number', describe: 'wasm threads [default: all cores]' },
      resume: { type: 'boolean', default: false, describe: 'continue the run in --out' },
      quiet: { type: 'boolean', default: false, describe: 'no progress output' },
    }),
  );
  if (args === null) return 0;
  let patch;
  try {
    patch = ddx7Patch(args.patch);
  } catch (e) {
    if (e instanceof UnknownPatchError) throw new UserError(e.message);
    throw e;
  }
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`--${name} must be a positive integer, got ${v}`);
  };
  positiveInt('steps', args.steps);
  positiveInt('batch', args.batch);
  positiveInt('channels', args.channels);
  positiveInt('decay-every', args['decay-every']);
  positiveInt('checkpoint-every', args['checkpoint-every']);
  if (args.limit !== undefined) positiveInt('limit', args.limit);
  for (const [name, v] of [['lr', args.lr], ['clip', args.clip], ['excerpt-sec', args['excerpt-sec']]] as const) {
    if (!(v > 0)) throw new UserError(`--${name} must be positive, got ${v}`);
  }
  if (!(args['decay-rate'] > 0 && args['decay-rate'] <= 1)) throw new UserError(`--decay-rate must be in (0, 1], got ${args['decay-rate']}`);
  if (!(args.dropout >= 0 && args.dropout < 1)) throw new UserError(`--dropout must be in [0, 1), got ${args.dropout}`);
  const iMax = args['i-max'] ?? patch.defaultImax;
  if (!(iMax > 0)) throw new UserError(`--i-max must be positive, got ${iMax}`);
  if (!Number.isSafeInteger(args.seed)) throw new UserError(`--seed must be an integer, got ${args.seed}`);
  const model: Ddx7Config = Object.freeze({
    ...d,
    patch: patch.name,
    iMax,
    channels: args.channels,
    dropout: args.dropout,
    reverbSec: args.reverb ? args['reverb-sec'] : 0,
    seed: args.seed,
  });
  const config: TrainDdx7Config = Object.freeze({
    model,
    steps: args.steps,
    batchSize: args.batch,
    learningRate: args.lr,
    decayEvery: args['decay-every'],
    decayRate: args['decay-rate'],
    clipNorm: args.clip,
    checkpointEvery: args['checkpoint-every'],
    seed: args.seed,
    excerptSec: args['excerpt-sec'],
    hopSec: args['hop-sec'] ?? args['excerpt-sec'],
  });
  const log = (s: string): void => {
    if (!args.quiet) process.stderr.write(`${s}\n`);
  };
  const outDir = path.resolve(args.out ?? path.join('models', `ddx7_${patch.name}_seed${args.seed}`));
  const asUserError = (e: unknown): never => {
    if (e instanceof Ddx7TrainError) throw new UserError(e.message);
    throw e;
  };
  // Before the corpus is read (minutes for a large one): a wrong --out fails at once.
  try {
    checkDdx7OutDir(outDir, args.resume);
  } catch (e) {
    asUserError(e);
  }
  const features = await resolveDdx7Features();
  const families = args.families?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // Each file dropped whole is named as it is found, even under --quiet: it is a problem with the
  // data the user may have to fix, not progress. Silent excerpts are normal (a recording's pauses)
  // and only counted; every skip is also in skipped.csv.
  const shownSkips = 20;
  let fileSkips = 0;
  const onFileSkip = (s: Ddx7Skip): void => {
    fileSkips++;
    if (fileSkips <= shownSkips) process.stderr.write(`train-ddx7: skipped ${s.source} (${s.kind}): ${s.reason}\n`);
    else if (fileSkips === shownSkips + 1) process.stderr.write(`train-ddx7: more files skipped; all are counted below and listed in skipped.csv\n`);
  };
  const corpus = await loadDdx7Corpus(path.resolve(args.data), {
    excerptSec: config.excerptSec,
    ...(families ? { families } : {}),
    ...(args.instrument !== undefined ? { instrument: args.instrument } : {}),
    ...(args.limit !== undefined ? { limit: args.limit } : {}),
    hopSec: config.hopSec,
    silenceDb: args['silence-db'],
    minConfidence: args['min-confidence'],
    features,
    onFileSkip,
  }).catch(asUserError);
  const skips = countDdx7Skips(corpus.skipped);
  // trainDdx7 makes the folder (a fresh run) or refuses a missing checkpoint (--resume) itself.
  const backend = await initBackend({ backend: args.backend as BackendChoice, threads: args.threads });
  log(
    `train-ddx7: ${corpus.excerpts.length} excerpts of ${config.excerptSec} s (every ${config.hopSec} s) from ${corpus.files} files read; ${describeDdx7Skips(corpus.skipped)}; ` +
      `patch ${patch.name}, I_max ${iMax.toFixed(3)}; f0: ${features.describe.f0}; ${describeBackend(backend)}`,
  );

  const interrupt = onInterrupt('train-ddx7', 'stopping after this step and writing a checkpoint');
  const bar = createProgress({ label: 'train-ddx7', unit: 'steps', total: config.steps, quiet: args.quiet });
  try {
    const s = await trainDdx7(corpus, outDir, config, features, backend, args.resume, {
      signal: interrupt.signal,
      onStep: (step, _steps, loss, sps) => bar.update(step, { loss: loss.toFixed(4), 'steps/s': sps.toFixed(3) }),
    }).catch(asUserError);
    bar.stop();
    // As eval-nsynth's skipped.csv: `id,reason`, the id a file, note or `<file>@<start s>` excerpt.
    writeFileAtomic(path.join(outDir, 'skipped.csv'), skippedCsv(corpus.skipped.map((k) => ({ id: k.source, reason: `${k.kind}: ${k.reason}` }))));
    const rel = path.relative(process.cwd(), outDir);
    if (s.interrupted) {
      process.stderr.write(`train-ddx7: interrupted at step ${s.stepsDone}; model and checkpoint in ${rel}. Run again with --resume to continue.\n`);
      return EXIT_INTERRUPTED;
    }
    process.stdout.write(
      `train-ddx7: steps ${s.startStep + 1}–${s.stepsDone} of ${config.steps}, loss ${s.lastLoss.toFixed(4)} (mean of the last ≤ 10), ` +
        `${s.stepsPerSec.toFixed(3)} steps/s (batch ${config.batchSize} × ${config.excerptSec} s), ${(s.seconds / 60).toFixed(1)} min on ${describeBackend(backend)}; ` +
        `${corpus.excerpts.length} excerpts from ${corpus.files} files read, ${skips.files} files skipped, ${skips.excerpts} excerpts skipped (${skips.byKind.get('silent excerpt')} silent, ${skips.byKind.get('unpitched excerpt')} unpitched)${skips.files + skips.excerpts > 0 ? ', listed in skipped.csv' : ''}; decoder ${s.parameters.decoder} parameters, reverb ${s.parameters.reverb} → ${rel}\n`,
    );
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('train-ddx7', () => trainDdx7Main(hideBin(process.argv)));
}
