/**
 * `npm run train-cnn`: trains the paper's CNN + MLP regressor on a gen-dataset folder.
 * Thin: parse, open the dataset, start the backend, call src/model, print, exit code.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { createProgress, type Progress } from '../src/cli/progress.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { DatasetReadError, openDataset } from '../src/dataset/reader.ts';
import { BACKEND_CHOICES, type BackendChoice, describeBackend, initBackend } from '../src/model/backend.ts';
import { CARRIER_HEADS, DEFAULT_TRAIN_CONFIG, evaluateTestSplit, TRAIN_FILES, TrainError, trainCnn, type TrainCnnConfig } from '../src/model/train-cnn.ts';
import { writeTrainingReport } from '../src/report/training.ts';

export async function trainCnnMain(argv: readonly string[]): Promise<number> {
  const d = DEFAULT_TRAIN_CONFIG;
  const args = await parseArgs(argv, 'npm run train-cnn --', '$0 --data <dataset folder> [options]\n\nTrain the paper\'s CNN + MLP regressor (raw audio → 15 patch parameters) on a gen-dataset folder.\nWrites model.json + weights.bin (loadable by tf.loadLayersModel), targets.json, split.json, history.csv,\ntest-metrics.csv and report.html into --out; a checkpoint every epoch (resume with --resume).', (y) =>
    y.options({
      data: { type: 'string', describe: 'dataset folder written by gen-dataset', default: path.join('datasets', 'paper-3s2p_n5000_seed0') },
      out: { type: 'string', describe: 'output folder [default: models/cnn_<dataset name>_seed<seed>]' },
      epochs: { type: 'number', default: d.epochs, describe: 'maximum epochs (early stopping usually ends sooner)' },
      batch: { type: 'number', default: d.batchSize, describe: 'batch size' },
      seed: { type: 'number', default: d.seed, describe: 'seed of the split, shuffles and initial weights' },
      lr: { type: 'number', default: d.learningRate, describe: 'Adamax learning rate' },
      patience: { type: 'number', default: d.patience, describe: 'early-stopping patience, epochs' },
      l2: { type: 'number', default: d.l2, describe: 'L2 factor on the conv and first dense kernels' },
      activation: { type: 'string', default: d.activation, choices: ['relu', 'elu', 'selu', 'tanh', 'sigmoid', 'linear'], describe: 'activation of the hidden layers' },
      'log-targets': { type: 'boolean', default: d.logTargets, describe: 'regress carrier and ratios in log space (ours; off in the paper)' },
      'carrier-head': { type: 'string', default: d.carrierHead, choices: [...CARRIER_HEADS], describe: 'carrier from one regression output (the paper) or classified over 20-cent log-frequency bins (ours)' },
      backend: { type: 'string', default: 'auto', choices: [...BACKEND_CHOICES], describe: 'tfjs backend (auto: native GPU > native CPU > wasm > cpu)' },
      threads: { type: 'number', describe: 'wasm threads [default: all cores]' },
      resume: { type: 'boolean', default: false, describe: 'continue an interrupted run in --out' },
      quiet: { type: 'boolean', default: false, describe: 'no progress output' },
    }),
  );
  if (args === null) return 0;
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new UserError(`--${name} must be a positive integer, got ${v}`);
  };
  positiveInt('epochs', args.epochs);
  positiveInt('batch', args.batch);
  positiveInt('patience', args.patience);
  if (!Number.isSafeInteger(args.seed)) throw new UserError(`--seed must be an integer, got ${args.seed}`);
  if (!(args.lr > 0)) throw new UserError(`--lr must be positive, got ${args.lr}`);
  if (!(args.l2 >= 0)) throw new UserError(`--l2 must be ≥ 0, got ${args.l2}`);
  const config: TrainCnnConfig = Object.freeze({
    epochs: args.epochs,
    batchSize: args.batch,
    seed: args.seed,
    learningRate: args.lr,
    patience: args.patience,
    l2: args.l2,
    activation: args.activation as TrainCnnConfig['activation'],
    logTargets: args['log-targets'],
    carrierHead: args['carrier-head'] as TrainCnnConfig['carrierHead'],
  });
  let index;
  try {
    index = openDataset(path.resolve(args.data));
  } catch (e) {
    if (e instanceof DatasetReadError) throw new UserError(e.message);
    throw e;
  }
  const outDir = path.resolve(args.out ?? path.join('models', `cnn_${path.basename(index.dir)}_seed${config.seed}`));
  // A fresh run goes into a new or empty folder: mixing a model into a dataset or another tool's
  // output would leave neither usable. (Runs written before config.json had a format field still
  // have their config and spec.)
  const ownFolder = (): boolean => {
    try {
      const cfg = JSON.parse(readFileSync(path.join(outDir, TRAIN_FILES.config), 'utf8'));
      return cfg.format === 'fmmatch-cnn' || (cfg.format === undefined && typeof cfg.config === 'object' && Array.isArray(cfg.paramSpec));
    } catch {
      return false;
    }
  };
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UserError(`--out ${outDir} exists and is not a folder`);
  if (!args.resume && existsSync(outDir) && readdirSync(outDir).length > 0 && !ownFolder()) {
    throw new UserError(`--out ${outDir} is not empty and is not a train-cnn folder; choose a new or empty folder`);
  }
  // trainCnn makes the folder (a fresh run) or refuses a missing checkpoint (--resume) itself.
  const backend = await initBackend({ backend: args.backend as BackendChoice, threads: args.threads });
  const log = (s: string): void => {
    if (!args.quiet) process.stderr.write(`${s}\n`);
  };
  log(`train-cnn: ${index.ids.length} patches from ${path.relative(process.cwd(), index.dir)}; ${describeBackend(backend)}`);

  const interrupt = onInterrupt('train-cnn', "stopping after this batch; the best model and the last epoch's checkpoint are kept");
  let bar: Progress | null = null;
  let barEpoch = 0;
  let lastVal = NaN;
  try {
    const summary = await trainCnn(index, outDir, config, backend, args.resume, {
      signal: interrupt.signal,
      onBatch: (epoch, b, batches, loss, sps) => {
        if (epoch !== barEpoch) {
          bar?.stop();
          bar = createProgress({ label: `epoch ${epoch}/${config.epochs}`, unit: 'batches', total: batches, quiet: args.quiet });
          barEpoch = epoch;
        }
        bar?.update(b, { loss: loss.toFixed(4), val_loss: Number.isNaN(lastVal) ? '-' : lastVal.toFixed(4), 'samples/s': sps.toFixed(1) });
      },
      onEpoch: (r, best) => {
        bar?.stop();
        bar = null;
        lastVal = r.val_loss;
        log(`epoch ${r.epoch}: loss ${r.loss.toFixed(4)} mae ${r.mae.toFixed(4)} | val_loss ${r.val_loss.toFixed(4)} val_mae ${r.val_mae.toFixed(4)} carrier ${r.val_carrier_cents?.toFixed(0) ?? '-'} cents | ${r.samples_per_sec.toFixed(1)} samples/s, ${r.seconds.toFixed(0)} s${best ? ' | best so far, saved' : ''}`);
      },
    }).catch((e: unknown) => {
      if (e instanceof TrainError || e instanceof DatasetReadError) throw new UserError(e.message);
      throw e;
    });
    (bar as Progress | null)?.stop();
    if (summary.stopped === 'interrupted') {
      process.stderr.write(`train-cnn: interrupted after ${summary.epochsDone} epoch(s); best model (epoch ${summary.bestEpoch}) in ${path.relative(process.cwd(), outDir)}. ${summary.epochsDone > 0 ? 'Run again with --resume to continue.' : 'No epoch was completed: run the same command again (without --resume) to start over.'}\n`);
      return EXIT_INTERRUPTED;
    }
    if (summary.bestEpoch === 0) throw new UserError('no epoch completed; nothing to evaluate');
    const metrics = await evaluateTestSplit(index, outDir, config.batchSize);
    writeTrainingReport(outDir, metrics);
    process.stdout.write(
      `train-cnn: ${summary.epochsDone} epochs (${summary.stopped}), best epoch ${summary.bestEpoch} (val_loss ${summary.bestValLoss.toFixed(4)}), ` +
        `${(summary.seconds / 60).toFixed(1)} min on ${describeBackend(backend)}; test (${summary.split.test} patches): ` +
        `pooled MAE ${metrics.pooled.mae.toFixed(4)}, RMSE ${metrics.pooled.rmse.toFixed(4)} (original units), carrier error median ${metrics.carrierCents.median.toFixed(0)} cents, ` +
        `p90 ${metrics.carrierCents.p90.toFixed(0)} cents → ${path.relative(process.cwd(), outDir)}\n`,
    );
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('train-cnn', () => trainCnnMain(hideBin(process.argv)));
}
