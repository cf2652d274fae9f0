/**
 * `npm run train-carrier` (ours): trains the spectral carrier estimator of a train-cnn model, on the
 * same dataset and split, into `<model>/carrier/`. From then on the model predicts its carrier with
 * it (eval-nsynth, predictions), and `<model>/carrier/test-metrics.csv` holds the test errors of the
 * combined predictor (the CNN's 14 other parameters, this net's carrier).
 * Thin: parse, open, start the backend, call src/model, print, exit code.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { createProgress, type Progress } from '../src/cli/progress.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { DatasetReadError, openDataset } from '../src/dataset/reader.ts';
import { BACKEND_CHOICES, type BackendChoice, describeBackend, initBackend } from '../src/model/backend.ts';
import { CARRIER_DIR, CARRIER_FILES, CarrierNetError, type CarrierNetConfig, DEFAULT_CARRIER_NET_CONFIG, loadCarrierNet, predictCarrierHz, shareWithinCents, trainCarrierNet } from '../src/model/carrier-net.ts';
import { evaluateTestSplit, readSplit, TRAIN_FILES, TrainError } from '../src/model/train-cnn.ts';
import { writeCarrierReport } from '../src/report/training.ts';

export async function trainCarrierMain(argv: readonly string[]): Promise<number> {
  const d = DEFAULT_CARRIER_NET_CONFIG;
  const args = await parseArgs(
    argv,
    'npm run train-carrier --',
    "$0 --model <train-cnn folder> [options]\n\nTrain the spectral carrier estimator (ours) of a train-cnn model: a convolutional net over the note's\nlog-frequency spectrum, on the model's dataset and split. Writes <model>/carrier/ (model.json, weights.bin,\nconfig.json, history.csv, test-metrics.csv, report.html); from then on the model takes its carrier from it.",
    (y) =>
      y.options({
        model: { type: 'string', describe: 'folder written by train-cnn', default: path.join('models', 'cnn_paper-3s2p_n5000_seed0_seed0') },
        data: { type: 'string', describe: "dataset folder [default: the one the model was trained on]" },
        'extra-data': { type: 'string', array: true, default: [] as string[], describe: "more gen-dataset folders whose every note joins the training set (another seed: they may share no patch with the model's dataset); validation and test stay the model's" },
        epochs: { type: 'number', default: d.epochs, describe: 'maximum epochs (early stopping usually ends sooner)' },
        batch: { type: 'number', default: d.batchSize, describe: 'batch size' },
        seed: { type: 'number', default: d.seed, describe: 'seed of the shuffles and initial weights (the split is the model\'s)' },
        lr: { type: 'number', default: d.learningRate, describe: 'Adamax learning rate' },
        patience: { type: 'number', default: d.patience, describe: 'early-stopping patience, epochs' },
        channels: { type: 'number', default: d.channels, describe: 'channels of the hidden convolutions' },
        backend: { type: 'string', default: 'auto', choices: [...BACKEND_CHOICES], describe: 'tfjs backend (auto: native GPU > native CPU > wasm > cpu)' },
        threads: { type: 'number', describe: 'wasm threads [default: all cores]' },
        resume: { type: 'boolean', default: false, describe: 'continue an interrupted run' },
        quiet: { type: 'boolean', default: false, describe: 'no progress output' },
      }),
  );
  if (args === null) return 0;
  for (const name of ['epochs', 'batch', 'patience', 'channels'] as const) {
    const v = args[name];
    if (!Number.isInteger(v) || v < 1) throw new UserError(`--${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isSafeInteger(args.seed)) throw new UserError(`--seed must be an integer, got ${args.seed}`);
  if (!(args.lr > 0)) throw new UserError(`--lr must be positive, got ${args.lr}`);
  const modelDir = path.resolve(args.model);
  const cfgPath = path.join(modelDir, TRAIN_FILES.config);
  if (!existsSync(cfgPath)) throw new UserError(`${args.model}: not a train-cnn output folder (${TRAIN_FILES.config} missing)`);
  if (!existsSync(path.join(modelDir, 'model.json'))) throw new UserError(`${args.model}: no trained model yet (model.json missing)`);
  let recorded: { dir?: string; contentHash?: string } | undefined;
  try {
    recorded = (JSON.parse(readFileSync(cfgPath, 'utf8')) as { dataset?: { dir?: string; contentHash?: string } }).dataset;
  } catch {
    throw new UserError(`${cfgPath}: not valid JSON`);
  }
  const recordedData = recorded?.dir;
  const dataDir = args.data ?? recordedData;
  if (dataDir === undefined) throw new UserError(`${cfgPath}: no dataset recorded; pass --data`);
  let index;
  let split;
  try {
    index = openDataset(path.resolve(dataDir));
    split = readSplit(modelDir);
  } catch (e) {
    if (e instanceof DatasetReadError || e instanceof TrainError) throw new UserError(e.message);
    throw e;
  }
  // The split names rows of the CNN's dataset: any other dataset would mix up train and test notes.
  if (recorded?.contentHash !== index.contentHash) {
    throw new UserError(`${dataDir}: not the dataset ${args.model} was trained on (content hash ${index.contentHash}, the model's ${recorded?.contentHash ?? 'unrecorded'})`);
  }
  let extras;
  try {
    extras = (args['extra-data'] as string[]).map((d) => openDataset(path.resolve(d)));
  } catch (e) {
    if (e instanceof DatasetReadError) throw new UserError(e.message);
    throw e;
  }
  const config: CarrierNetConfig = Object.freeze({ ...d, epochs: args.epochs, batchSize: args.batch, seed: args.seed, learningRate: args.lr, patience: args.patience, channels: args.channels });
  const backend = await initBackend({ backend: args.backend as BackendChoice, threads: args.threads });
  const log = (s: string): void => {
    if (!args.quiet) process.stderr.write(`${s}\n`);
  };
  const rel = (p: string): string => path.relative(process.cwd(), p) || '.';
  const extraNotes = extras.reduce((a, x) => a + x.ids.length, 0);
  const extraText = extras.length > 0 ? ` + ${extraNotes} train notes of ${extras.map((x) => rel(x.dir)).join(', ')}` : '';
  log(`train-carrier: ${split.train.length} train / ${split.validation.length} validation notes of ${rel(index.dir)}${extraText}; ${describeBackend(backend)}`);

  const interrupt = onInterrupt('train-carrier', "stopping after this batch; the best net and the last epoch's checkpoint are kept");
  let bar: Progress | null = null;
  let barKey = '';
  const barFor = (key: string, label: string, unit: string, total: number): Progress | null => {
    if (key !== barKey) {
      bar?.stop();
      bar = createProgress({ label, unit, total, quiet: args.quiet });
      barKey = key;
    }
    return bar;
  };
  let lastVal = NaN;
  try {
    const summary = await trainCarrierNet(index, modelDir, split, config, backend, args.resume, {
      signal: interrupt.signal,
      onFeatures: (done, total) => barFor('features', 'log spectra', 'notes', total)?.update(done, {}),
      onBatch: (epoch, b, batches, loss, sps) =>
        barFor(`epoch${epoch}`, `epoch ${epoch}/${config.epochs}`, 'batches', batches)?.update(b, { loss: loss.toFixed(4), val_loss: Number.isNaN(lastVal) ? '-' : lastVal.toFixed(4), 'samples/s': sps.toFixed(0) }),
      onEpoch: (r, best) => {
        bar?.stop();
        bar = null;
        barKey = '';
        lastVal = r.val_loss;
        log(`epoch ${r.epoch}: loss ${r.loss.toFixed(4)} | val_loss ${r.val_loss.toFixed(4)} carrier median ${r.val_carrier_cents.toFixed(1)} cents, ${(100 * r.val_within_50).toFixed(1)} % within 50 | ${r.samples_per_sec.toFixed(0)} samples/s, ${r.seconds.toFixed(0)} s${best ? ' | best so far, saved' : ''}`);
      },
    }, extras).catch((e: unknown) => {
      if (e instanceof CarrierNetError || e instanceof DatasetReadError) throw new UserError(e.message);
      throw e;
    });
    (bar as Progress | null)?.stop();
    if (summary.stopped === 'interrupted') {
      process.stderr.write(`train-carrier: interrupted after ${summary.epochsDone} epoch(s); best net (epoch ${summary.bestEpoch}) in ${rel(summary.dir)}. Run again with --resume to continue.\n`);
      return EXIT_INTERRUPTED;
    }
    if (summary.bestEpoch === 0) throw new UserError('no epoch completed; nothing to evaluate');
    const carrier = await loadCarrierNet(modelDir, split);
    const outFile = path.join(modelDir, CARRIER_DIR, CARRIER_FILES.testMetrics);
    const metrics = await evaluateTestSplit(index, modelDir, config.batchSize, { carrier: (notes) => predictCarrierHz(carrier, notes), outFile });
    carrier.model.dispose();
    writeCarrierReport(path.join(modelDir, CARRIER_DIR), metrics);
    const within = shareWithinCents(metrics.pairs, 50);
    process.stdout.write(
      `train-carrier: ${summary.epochsDone} epochs (${summary.stopped}), best epoch ${summary.bestEpoch} (val_loss ${summary.bestValLoss.toFixed(4)}), ` +
        `${(summary.totalSec / 60).toFixed(1)} min (spectra ${summary.featureSec.toFixed(0)} s, ${summary.trainNotes} training notes) on ${describeBackend(backend)}; test (${metrics.pairs.length} patches): ` +
        `carrier error median ${metrics.carrierCents.median.toFixed(1)} cents, p90 ${metrics.carrierCents.p90.toFixed(0)} cents, ${(100 * within).toFixed(1)} % within 50 cents; ` +
        `with the CNN's other parameters: pooled MAE ${metrics.pooled.mae.toFixed(4)}, RMSE ${metrics.pooled.rmse.toFixed(4)} (original units) → ${rel(outFile)}\n`,
    );
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('train-carrier', () => trainCarrierMain(hideBin(process.argv)));
}
