/**
 * Training the paper's CNN regressor (§5.2, Tables 2–3) on a generated dataset: Adamax, MSE on
 * z-scored targets, batch 32, up to 200 epochs, early stopping with patience 10 restoring the best
 * weights; a checkpoint (model + optimizer state + history) after every epoch, so an interrupted
 * run resumes where it stopped. Audio streams from disk one batch at a time.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_CARRIER_BINS, decodeCarrierBins, encodeCarrierBins } from '../dataset/carrier-bins.ts';
import { type DatasetIndex, loadAudio, paramsOf } from '../dataset/reader.ts';
import { makeSplit, seededPermutation, type Split } from '../dataset/split.ts';
import { denormalizeTargets, fitTargetNormalization, normalizeTargets, type TargetNormalization, targetTransforms } from '../dataset/targets.ts';
import { PARAM_COUNT, PARAM_SPECS } from '../synth/params.ts';
import { type BackendInfo } from './backend.ts';
import { SaveableAdamax } from './adamax.ts';
import { type Activation, buildPaperCnn } from './cnn.ts';
import { predictFused } from './infer.ts';
import { corruptFileMessage, fileLoadHandler, fileSaveHandler, loadCheckpointPart, loadLayersModelFrom, loadNamedTensors, optionDifferences, readModelJson, readCheckpointJson, saveNamedTensors, writeJsonAtomic } from './io.ts';
import { stepSeed } from './seeds.ts';

/** What determines a training run (written to `config.json`; a resume must match it). */
export interface TrainCnnConfig {
  /** Maximum epochs (paper: 200). */
  readonly epochs: number;
  /** Batch size (paper: 32). */
  readonly batchSize: number;
  /** Seed of the split, the shuffles and the initial weights. */
  readonly seed: number;
  /** Adamax learning rate (Keras's default, 0.001: the paper gives none). */
  readonly learningRate: number;
  /** Early-stopping patience in epochs (paper: 10). */
  readonly patience: number;
  /** L2 factor on the conv and first dense kernels (Keras 'l2' = 0.01). */
  readonly l2: number;
  /** Activation of the convolutions and hidden dense layers. */
  readonly activation: Activation;
  /** Ours, off by default: regress carrier and ratios in log space. */
  readonly logTargets: boolean;
  /**
   * How the carrier is predicted: `regress` (the paper: one of the 15 linear outputs) or `bins`
   * (ours: a second, sigmoid output classifies it over log-spaced bins; see dataset/carrier-bins).
   */
  readonly carrierHead: CarrierHead;
}

/** Values of {@link TrainCnnConfig.carrierHead}. */
export const CARRIER_HEADS = ['regress', 'bins'] as const;
export type CarrierHead = (typeof CARRIER_HEADS)[number];

/** The paper's setup. */
export const DEFAULT_TRAIN_CONFIG: TrainCnnConfig = Object.freeze({
  epochs: 200,
  batchSize: 32,
  seed: 0,
  learningRate: 0.001,
  patience: 10,
  l2: 0.01,
  activation: 'relu',
  logTargets: false,
  carrierHead: 'regress',
});

/** One row of history.csv. */
export interface EpochRecord {
  readonly epoch: number;
  readonly loss: number;
  readonly mse: number;
  readonly mae: number;
  readonly val_loss: number;
  readonly val_mse: number;
  readonly val_mae: number;
  /** Median |carrier error| on the validation split, cents (absent in histories from before it existed). */
  readonly val_carrier_cents?: number;
  readonly seconds: number;
  readonly samples_per_sec: number;
}

/** Saved training state (checkpoint/state.json). */
interface TrainState {
  readonly config: TrainCnnConfig;
  readonly datasetHash: string;
  readonly epochsDone: number;
  readonly bestValLoss: number;
  readonly bestEpoch: number;
  readonly history: EpochRecord[];
  readonly stopped: 'running' | 'early-stopping' | 'max-epochs';
  /** Folder (under checkpoint/) of the last epoch's model and optimizer; absent in older checkpoints (then: checkpoint/ itself). */
  readonly checkpoint?: string;
}

/** Name of an epoch's checkpoint folder (sorts by epoch). */
export const epochDirName = (epoch: number): string => `epoch-${String(epoch).padStart(4, '0')}`;

/**
 * Removes what a newer checkpoint supersedes: other epoch folders and the files of the older,
 * flat layout. Called only after state.json names `keep`.
 */
function removeStaleCheckpoints(ckptDir: string, keep: string): void {
  for (const f of readdirSync(ckptDir)) {
    if (f === keep || f === TRAIN_FILES.state || f.startsWith(`${TRAIN_FILES.state}.`)) continue;
    if (f.startsWith('epoch-') || f === 'model.json' || f === 'weights.bin' || f.startsWith(`${TRAIN_FILES.optimizer}.`)) rmSync(path.join(ckptDir, f), { recursive: true, force: true });
  }
}

/** Callbacks for progress display. */
export interface TrainHooks {
  onBatch?: (epoch: number, batch: number, batches: number, loss: number, samplesPerSec: number) => void;
  onEpoch?: (record: EpochRecord, best: boolean) => void;
  /** Aborting stops after the current batch; the last completed epoch's checkpoint stays. */
  signal?: AbortSignal;
}

/** Files of an output folder. */
export const TRAIN_FILES = {
  config: 'config.json',
  split: 'split.json',
  targets: 'targets.json',
  history: 'history.csv',
  testMetrics: 'test-metrics.csv',
  checkpoint: 'checkpoint',
  state: 'state.json',
  optimizer: 'optimizer',
} as const;

/** An error the user caused (incompatible checkpoint, bad folder): the CLI prints it as one line. */
export class TrainError extends Error {}

/**
 * Our input preparation: peak-normalise each note to 1. The dataset's notes and NSynth's differ in
 * level, and the level is not a parameter; the paper's input BatchNormalization would otherwise
 * learn the training set's level only.
 */
export function prepareInput(audio: Float32Array, out: Float32Array, offset: number): void {
  let peak = 0;
  for (let i = 0; i < audio.length; i++) {
    const a = Math.abs(audio[i]);
    if (a > peak) peak = a;
  }
  const g = peak > 0 ? 1 / peak : 0;
  for (let i = 0; i < audio.length; i++) out[offset + i] = audio[i] * g;
}

/**
 * Loads a batch: inputs [B, L] (flattened), normalised targets [B, 15] and, with a bins head, the
 * carrier's bin targets [B, bins].
 */
async function loadBatch(index: DatasetIndex, rows: readonly number[], norm: TargetNormalization): Promise<{ x: Float32Array; y: Float32Array; bins: Float32Array | null }> {
  const L = index.samplesPerNote;
  const x = new Float32Array(rows.length * L);
  const y = new Float32Array(rows.length * PARAM_COUNT);
  const spec = norm.carrierBins;
  const bins = spec ? new Float32Array(rows.length * spec.count) : null;
  const audios = await Promise.all(rows.map((r) => loadAudio(index, r)));
  audios.forEach((a, b) => {
    prepareInput(a, x, b * L);
    const p = paramsOf(index, rows[b]);
    normalizeTargets(norm, p, y, b * PARAM_COUNT);
    if (spec && bins) encodeCarrierBins(spec, p[0], bins, b * spec.count);
  });
  return { x, y, bins };
}

/**
 * Runs the model on a prepared batch and maps its outputs to parameters in original units (not
 * clipped or snapped); with a bins head the carrier is read from the bins.
 *
 * @param x inputs [n, L] flattened
 * @returns one 15-vector per note, PARAM_SPECS order
 */
export function predictPrepared(model: tf.LayersModel, norm: TargetNormalization, x: Float32Array, n: number, L: number): number[][] {
  const outs = tf.tidy(() => {
    return predictFused(model, tf.tensor3d(x, [n, L, 1])).map((t) => t.dataSync() as Float32Array);
  });
  const spec = norm.carrierBins;
  if (spec && outs.length < 2) throw new Error('the model has no carrier_bins output but its targets.json names carrier bins');
  const params: number[][] = [];
  for (let b = 0; b < n; b++) {
    const v = denormalizeTargets(norm, outs[0], b * PARAM_COUNT);
    if (spec) v[0] = decodeCarrierBins(spec, outs[1], b * spec.count);
    params.push(v);
  }
  return params;
}

function batchesOf(rows: readonly number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

const writeJson = writeJsonAtomic;

function historyCsv(history: readonly EpochRecord[]): string {
  const cols = ['epoch', 'loss', 'mse', 'mae', 'val_loss', 'val_mse', 'val_mae', 'val_carrier_cents', 'seconds', 'samples_per_sec'] as const;
  const cell = (h: EpochRecord, c: (typeof cols)[number]): string => {
    const v = h[c];
    if (c === 'epoch') return String(v);
    return v === undefined ? '' : v.toPrecision(6);
  };
  return `${cols.join(',')}\n${history.map((h) => cols.map((c) => cell(h, c)).join(',')).join('\n')}\n`;
}

/**
 * The bins head's loss: binary cross-entropy summed over the bins and divided by 15, so that each
 * bin's logit gets the gradient (p − t)/15, of the order of what one regression output gets from
 * the mean squared error over 15 (2(z − y)/15). tfjs-layers ignores `lossWeights`, hence a custom
 * loss. The regression outputs keep their MSE, the carrier's column included (unused when
 * predicting): the first bins run was trained so, and excluding it is an experiment still to run.
 */
function carrierBinsLoss(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.metrics.binaryCrossentropy(yTrue, yPred).mul(yTrue.shape[yTrue.rank - 1] / PARAM_COUNT));
}

function compile(model: tf.LayersModel, config: TrainCnnConfig): tf.Optimizer {
  const optimizer = new SaveableAdamax(config.learningRate);
  if (config.carrierHead === 'bins') {
    const mse = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor => tf.metrics.meanSquaredError(yTrue, yPred);
    model.compile({ optimizer, loss: [mse, carrierBinsLoss], metrics: ['mse', 'mae'] });
  } else {
    model.compile({ optimizer, loss: 'meanSquaredError', metrics: ['mse', 'mae'] });
  }
  return optimizer;
}

/**
 * Mean MSE/MAE over a split (z-scored units, inference mode: no dropout, no L2 term, as tfjs's
 * `evaluate` reports it) and the median carrier error in cents, which says whether the pitch is
 * being learnt long before the pooled loss does.
 */
async function evaluateRows(model: tf.LayersModel, index: DatasetIndex, rows: readonly number[], norm: TargetNormalization, batchSize: number): Promise<{ mse: number; mae: number; carrierCents: number }> {
  let se = 0;
  let ae = 0;
  const cents: number[] = [];
  const z = new Float32Array(batchSize * PARAM_COUNT);
  for (const batch of batchesOf(rows, batchSize)) {
    const { x, y } = await loadBatch(index, batch, norm);
    const predicted = predictPrepared(model, norm, x, batch.length, index.samplesPerNote);
    // Errors of what the model predicts, in target units: with a bins head, its carrier.
    predicted.forEach((p, b) => normalizeTargets(norm, p, z, b * PARAM_COUNT));
    for (let i = 0; i < batch.length * PARAM_COUNT; i++) {
      const d = z[i] - y[i];
      se += d * d;
      ae += Math.abs(d);
    }
    batch.forEach((r, b) => cents.push(carrierCentsError(predicted[b][0], paramsOf(index, r)[0])));
  }
  const n = rows.length * PARAM_COUNT;
  return { mse: se / n, mae: ae / n, carrierCents: quantile(cents.sort((a, b) => a - b), 0.5) };
}

/** |1200·log2(predicted / true)|, cents; predictions at or below 0 Hz count as 1 mHz. */
function carrierCentsError(predictedHz: number, trueHz: number): number {
  return Math.abs(1200 * Math.log2(Math.max(predictedHz, 1e-3) / trueHz));
}

/** Summary of a training run. */
export interface TrainSummary {
  readonly outDir: string;
  readonly epochsDone: number;
  readonly bestEpoch: number;
  readonly bestValLoss: number;
  readonly stopped: TrainState['stopped'] | 'interrupted';
  readonly seconds: number;
  readonly split: { train: number; validation: number; test: number };
}

/** The command-line option of each config key, for errors (the epoch budget may grow on a resume: it only says when to stop). */
const TRAIN_OPTION_NAMES: Record<keyof TrainCnnConfig, string> = {
  epochs: '--epochs',
  batchSize: '--batch',
  seed: '--seed',
  learningRate: '--lr',
  patience: '--patience',
  l2: '--l2',
  activation: '--activation',
  logTargets: '--log-targets',
  carrierHead: '--carrier-head',
};

/**
 * Seed of the dropout mask of one training step, a hash of (run seed, epoch, batch):
 * a fixed seed on the layer would draw the same mask at every step, and none makes runs differ.
 * Derived from the step, so a resumed run draws what the uninterrupted one would have.
 */
function dropoutSeed(seed: number, epoch: number, batch: number): number {
  return stepSeed('fmmatch/dropout', seed, epoch, batch);
}

/**
 * Runs `step` with the Dropout layers of `model` seeded by `seed` + their index (two layers of one
 * shape must not drop the same units), then unseeds them (the saved model.json stays as built).
 * tfjs-layers' Dropout reads its `seed` field at call time.
 */
async function withDropoutSeed<T>(model: tf.LayersModel, seed: number, step: () => Promise<T>): Promise<T> {
  const dropouts = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[];
  dropouts.forEach((d, i) => {
    d.seed = (seed + i) >>> 0;
  });
  try {
    return await step();
  } finally {
    for (const d of dropouts) d.seed = undefined;
  }
}

/**
 * Trains (or resumes training) into `outDir`. On return, `outDir/model.json` + `weights.bin` hold
 * the best model so far (by validation loss).
 */
export async function trainCnn(index: DatasetIndex, outDir: string, config: TrainCnnConfig, backend: BackendInfo, resume: boolean, hooks: TrainHooks = {}): Promise<TrainSummary> {
  const t0 = performance.now();
  const ckptDir = path.join(outDir, TRAIN_FILES.checkpoint);
  const statePath = path.join(ckptDir, TRAIN_FILES.state);
  let state: TrainState;
  let split: Split;
  let norm: TargetNormalization;
  let model: tf.LayersModel;
  let optimizer: tf.Optimizer;
  if (resume) {
    if (!existsSync(statePath)) throw new TrainError(`${outDir}: no checkpoint to resume (${statePath} missing)`);
    const fail = (m: string): Error => new TrainError(m);
    state = readCheckpointJson<TrainState>(statePath, fail);
    if (typeof state.epochsDone !== 'number' || typeof state.config !== 'object' || state.config === null || typeof state.datasetHash !== 'string') {
      throw new TrainError(`${outDir}: not a train-cnn checkpoint (${statePath} lacks epochsDone, config or datasetHash; another tool's folder?)`);
    }
    const differ = optionDifferences(state.config, config, TRAIN_OPTION_NAMES, ['epochs'], DEFAULT_TRAIN_CONFIG);
    if (differ.length > 0) throw new TrainError(`${outDir}: the checkpoint was made with other options (${differ.join(', ')}; checkpoint first); resume with the same options or use another --out`);
    // A run that stopped because it used up its epochs continues when given more.
    if (state.stopped === 'max-epochs' && config.epochs > state.epochsDone) state = { ...state, stopped: 'running' };
    state = { ...state, config };
    if (state.datasetHash !== index.contentHash) throw new TrainError(`${outDir}: the checkpoint was trained on another dataset (${state.datasetHash}, this one is ${index.contentHash})`);
    split = readCheckpointJson<{ rows: Split }>(path.join(outDir, TRAIN_FILES.split), fail).rows;
    norm = readCheckpointJson<TargetNormalization>(path.join(outDir, TRAIN_FILES.targets), fail);
    // Checkpoints from before per-epoch folders sit in the checkpoint folder itself.
    const last = state.checkpoint ? path.join(ckptDir, state.checkpoint) : ckptDir;
    model = await loadCheckpointPart(last, fail, () => tf.loadLayersModel(fileLoadHandler(last)));
    optimizer = compile(model, config);
    // Adamax's moments live in the optimizer's weights; without them a resume would restart its warm-up.
    const optimizerPath = path.join(last, TRAIN_FILES.optimizer);
    const saved = await loadCheckpointPart(optimizerPath, fail, async () => {
      const tensors = loadNamedTensors(optimizerPath);
      await optimizer.setWeights(tensors);
      return tensors;
    });
    for (const t of saved) t.tensor.dispose();
  } else {
    if (existsSync(statePath)) throw new TrainError(`${outDir} already holds a training run; use --resume to continue it or choose another --out`);
    mkdirSync(ckptDir, { recursive: true });
    split = makeSplit(index.ids.length, config.seed);
    norm = fitTargetNormalization(index.params, split.train, targetTransforms(config.logTargets));
    if (config.carrierHead === 'bins') norm = { ...norm, carrierBins: DEFAULT_CARRIER_BINS };
    writeJson(path.join(outDir, TRAIN_FILES.split), {
      seed: config.seed,
      fractions: { test: 0.25, validationOfTrain: 0.2 },
      ids: { train: split.train.map((r) => index.ids[r]), validation: split.validation.map((r) => index.ids[r]), test: split.test.map((r) => index.ids[r]) },
      rows: split,
    });
    writeJson(path.join(outDir, TRAIN_FILES.targets), norm);
    writeJson(path.join(outDir, TRAIN_FILES.config), {
      format: 'fmmatch-cnn',
      config,
      // The resynthesis must use the synth the model learned (algorithm, feedback, render).
      dataset: { dir: index.dir, contentHash: index.contentHash, count: index.ids.length, config: index.config },
      backend,
      paramSpec: PARAM_SPECS,
    });
    model = buildPaperCnn({
      inputLength: index.samplesPerNote,
      outputs: PARAM_COUNT,
      convActivation: config.activation,
      denseActivation: config.activation,
      l2: config.l2,
      seed: config.seed,
      carrierBins: norm.carrierBins?.count ?? 0,
    });
    optimizer = compile(model, config);
    state = { config, datasetHash: index.contentHash, epochsDone: 0, bestValLoss: Infinity, bestEpoch: 0, history: [], stopped: 'running' };
  }

  const L = index.samplesPerNote;
  // Where the total loss and the parameters' MSE/MAE sit in trainOnBatch's result.
  const names = model.metricsNames;
  const at = (name: string): number => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`training metrics ${names.join(', ')} lack ${name}`);
    return i;
  };
  const [iLoss, iMse, iMae] = norm.carrierBins ? [at('loss'), at('parameters_mse'), at('parameters_mae')] : [at('loss'), at('mse'), at('mae')];
  let stopped: TrainSummary['stopped'] = state.stopped;
  for (let epoch = state.epochsDone + 1; stopped === 'running' && epoch <= config.epochs; epoch++) {
    const te = performance.now();
    const order = seededPermutation(split.train.length, `fmmatch/epoch/${config.seed}/${epoch}`).map((i) => split.train[i]);
    const batches = batchesOf(order, config.batchSize);
    let sumLoss = 0;
    let sumMse = 0;
    let sumMae = 0;
    let seen = 0;
    let next = loadBatch(index, batches[0], norm);
    let aborted = false;
    for (let b = 0; b < batches.length; b++) {
      const { x, y, bins } = await next;
      // Read the next batch from disk while this one trains.
      if (b + 1 < batches.length) next = loadBatch(index, batches[b + 1], norm);
      const n = batches[b].length;
      const xt = tf.tensor3d(x, [n, L, 1]);
      const yt = tf.tensor2d(y, [n, PARAM_COUNT]);
      const bt = bins ? tf.tensor2d(bins, [n, bins.length / n]) : null;
      const res = (await withDropoutSeed(model, dropoutSeed(config.seed, epoch, b), () => model.trainOnBatch(xt, bt ? [yt, bt] : yt))) as number[];
      xt.dispose();
      yt.dispose();
      bt?.dispose();
      if (!res.every(Number.isFinite)) throw new TrainError(`training diverged at epoch ${epoch}, batch ${b + 1} (loss ${res[0]}); try a lower --lr`);
      sumLoss += res[iLoss] * n;
      sumMse += res[iMse] * n;
      sumMae += res[iMae] * n;
      seen += n;
      hooks.onBatch?.(epoch, b + 1, batches.length, sumLoss / seen, seen / ((performance.now() - te) / 1000));
      if (hooks.signal?.aborted) {
        aborted = true;
        break;
      }
    }
    if (aborted) {
      await next.catch(() => undefined);
      stopped = 'interrupted';
      break;
    }
    const trainSec = (performance.now() - te) / 1000;
    const val = await evaluateRows(model, index, split.validation, norm, config.batchSize);
    const record: EpochRecord = {
      epoch,
      loss: sumLoss / seen,
      mse: sumMse / seen,
      mae: sumMae / seen,
      val_loss: val.mse,
      val_mse: val.mse,
      val_mae: val.mae,
      val_carrier_cents: val.carrierCents,
      seconds: (performance.now() - te) / 1000,
      samples_per_sec: seen / trainSec,
    };
    const best = val.mse < state.bestValLoss;
    const history = [...state.history, record];
    let bestEpoch = state.bestEpoch;
    let bestValLoss = state.bestValLoss;
    if (best) {
      bestEpoch = epoch;
      bestValLoss = val.mse;
      // The best model so far is always in outDir: Ctrl-C or a crash leaves it usable.
      await model.save(fileSaveHandler(outDir));
    }
    let nextState: TrainState['stopped'] = 'running';
    if (epoch - bestEpoch >= config.patience) nextState = 'early-stopping';
    else if (epoch >= config.epochs) nextState = 'max-epochs';
    // The epoch's model and optimizer go to a folder of their own, then state.json (replaced
    // atomically) names it: a crash at any point leaves a state whose files all exist.
    const checkpoint = epochDirName(epoch);
    mkdirSync(path.join(ckptDir, checkpoint), { recursive: true });
    await model.save(fileSaveHandler(path.join(ckptDir, checkpoint)));
    await saveNamedTensors(path.join(ckptDir, checkpoint, TRAIN_FILES.optimizer), await optimizer.getWeights());
    state = { ...state, epochsDone: epoch, bestEpoch, bestValLoss, history, stopped: nextState, checkpoint };
    writeJson(statePath, state);
    removeStaleCheckpoints(ckptDir, checkpoint);
    writeFileSync(path.join(outDir, TRAIN_FILES.history), historyCsv(history));
    hooks.onEpoch?.(record, best);
    stopped = nextState;
  }
  // Resumed with an epoch budget already used up: nothing to train, the run counts as finished.
  if (stopped === 'running') stopped = 'max-epochs';
  model.dispose();
  return {
    outDir,
    epochsDone: state.epochsDone,
    bestEpoch: state.bestEpoch,
    bestValLoss: state.bestValLoss,
    stopped,
    seconds: (performance.now() - t0) / 1000,
    split: { train: split.train.length, validation: split.validation.length, test: split.test.length },
  };
}

/** Test-set errors in original units (the paper's Table 5, plus per parameter and carrier cents). */
export interface TestMetrics {
  readonly pooled: { rmse: number; mse: number; mae: number };
  readonly perParam: { name: string; unit: string; rmse: number; mse: number; mae: number }[];
  readonly carrierCents: { median: number; p90: number };
  /** Rows: [true 15-vector, predicted 15-vector] per test note, for scatter plots. */
  readonly pairs: { truth: number[]; predicted: number[] }[];
}

/** Linear-interpolated quantile of ascending values (NaN when empty). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Options of {@link evaluateTestSplit}. */
export interface TestSplitOptions {
  /**
   * Replaces the CNN's carrier (e.g. by the spectral carrier net): Hz per note, given the notes'
   * audio as the CNN sees it (peak-normalised).
   */
  readonly carrier?: (notes: Float32Array[]) => number[];
  /** Where to write the CSV. Default: `outDir/test-metrics.csv`. */
  readonly outFile?: string;
}

/** Runs the best model on the test split and writes test-metrics.csv. */
export async function evaluateTestSplit(index: DatasetIndex, outDir: string, batchSize: number, options: TestSplitOptions = {}): Promise<TestMetrics> {
  const split = readSplit(outDir);
  const norm = readModelJson<TargetNormalization>(path.join(outDir, TRAIN_FILES.targets));
  const model = await loadLayersModelFrom(outDir);
  const pairs: { truth: number[]; predicted: number[] }[] = [];
  const L = index.samplesPerNote;
  for (const batch of batchesOf(split.test, batchSize)) {
    const { x } = await loadBatch(index, batch, norm);
    const predicted = predictPrepared(model, norm, x, batch.length, L);
    if (options.carrier) {
      const hz = options.carrier(batch.map((_, b) => x.subarray(b * L, (b + 1) * L)));
      predicted.forEach((p, b) => (p[0] = hz[b]));
    }
    batch.forEach((r, b) => pairs.push({ truth: Array.from(paramsOf(index, r)), predicted: predicted[b] }));
  }
  model.dispose();
  const perParam = PARAM_SPECS.map((s, j) => {
    let se = 0;
    let ae = 0;
    for (const p of pairs) {
      const d = p.predicted[j] - p.truth[j];
      se += d * d;
      ae += Math.abs(d);
    }
    const mse = se / pairs.length;
    return { name: s.name, unit: s.unit, rmse: Math.sqrt(mse), mse, mae: ae / pairs.length };
  });
  const pooledMse = perParam.reduce((s, p) => s + p.mse, 0) / PARAM_COUNT;
  const pooledMae = perParam.reduce((s, p) => s + p.mae, 0) / PARAM_COUNT;
  const cents = pairs.map((p) => carrierCentsError(p.predicted[0], p.truth[0])).sort((a, b) => a - b);
  const metrics: TestMetrics = {
    pooled: { rmse: Math.sqrt(pooledMse), mse: pooledMse, mae: pooledMae },
    perParam,
    carrierCents: { median: quantile(cents, 0.5), p90: quantile(cents, 0.9) },
    pairs,
  };
  // One table: pooled and per-parameter errors in original units (RMSE, MSE, MAE), and the
  // carrier's error in cents (median, 90th percentile of |1200·log2(pred/true)|).
  const lines = ['scope,parameter,unit,rmse,mse,mae,median,p90'];
  const f = (x: number): string => x.toPrecision(6);
  lines.push(`pooled,all,original units,${f(metrics.pooled.rmse)},${f(metrics.pooled.mse)},${f(metrics.pooled.mae)},,`);
  for (const p of perParam) lines.push(`parameter,${p.name},${p.unit},${f(p.rmse)},${f(p.mse)},${f(p.mae)},,`);
  lines.push(`carrier_cents,carrier_hz,cents,,,,${f(metrics.carrierCents.median)},${f(metrics.carrierCents.p90)}`);
  writeFileSync(options.outFile ?? path.join(outDir, TRAIN_FILES.testMetrics), `${lines.join('\n')}\n`);
  return metrics;
}

/** The split a train-cnn run saved (row indices into its dataset). */
export function readSplit(outDir: string): Split {
  const file = path.join(outDir, TRAIN_FILES.split);
  if (!existsSync(file)) throw new TrainError(`${file}: missing (not a train-cnn output folder?)`);
  let rows: Split | undefined;
  try {
    rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows?: Split } | null)?.rows;
  } catch (e) {
    throw new TrainError(corruptFileMessage(file, e));
  }
  if (!rows || !Array.isArray(rows.train) || !Array.isArray(rows.validation) || !Array.isArray(rows.test)) throw new TrainError(`${file}: no train/validation/test rows`);
  return rows;
}

/** Removes a checkpoint folder (after a finished run, on request). */
export function removeCheckpoint(outDir: string): void {
  rmSync(path.join(outDir, TRAIN_FILES.checkpoint), { recursive: true, force: true });
}
