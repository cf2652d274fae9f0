/**
 * The spectral carrier estimator (ours, `npm run train-carrier`): a small fully-convolutional net
 * over the note's log-frequency spectrum (features/log-spectrum.ts) that says, bin by bin, where
 * the carrier is. It is trained on the same dataset and split as a train-cnn model and saved inside
 * that model's folder (`<model>/carrier/`), where `loadCnn` picks it up and uses its carrier in
 * place of the CNN's.
 *
 * Why a second net: the paper's CNN regresses the carrier in hertz from raw audio and lands a
 * median of ≈ 500 cents off (and a linear probe on its trunk does no better), while the carrier is
 * the parameter that matters most for a resynthesis. On a log-frequency axis every partial of a
 * patch moves with the carrier (see log-spectrum.ts), so a convolution there sees the same local
 * sideband pattern whatever the carrier is; dilations 1 … 256 give it a view of ±512 bins, ±4.3
 * octaves (the sidebands reach log2(1 + 8) ≈ 3.2 octaves above the carrier).
 *
 * ```
 * spectrum [bins, 1]
 * Conv1D(C, 3, same), ReLU
 * 9 × residual: h + Conv1D(C, 3, same, dilation 2^i), ReLU     (i = 0 … 8)
 * Conv1D(1, 1, no bias) → flatten                               (output: logits [bins])
 * ```
 * Trained with the softmax cross-entropy of the logits against a Gaussian bump (σ = 15 cents)
 * around the true carrier (on logits, not on clipped probabilities: a confidently wrong note keeps
 * its gradient); read out as the probability-weighted mean of ±3 bins around the most probable bin,
 * all within the carrier's range.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type DatasetIndex, loadAudio, paramsOf } from '../dataset/reader.ts';
import { seededPermutation, type Split } from '../dataset/split.ts';
import { checkLogSpectrumConfig, DEFAULT_LOG_SPECTRUM, type LogSpectrumConfig, LogSpectrumPlan, logSpectrumBinHz, logSpectrumBinOf } from '../features/log-spectrum.ts';
import { PARAM_SPECS } from '../synth/params.ts';
import { SaveableAdamax } from './adamax.ts';
import type { BackendInfo } from './backend.ts';
import { fileSaveHandler, loadLayersModelFrom, loadNamedTensors, optionDifferences, readModelJson, saveNamedTensors, writeJsonAtomic, yieldToEventLoop } from './io.ts';
import { epochDirName, quantile, TRAIN_FILES } from './train-cnn.ts';

/** What determines a carrier-net training run (saved in `carrier/config.json`; a resume must match). */
export interface CarrierNetConfig {
  /** Maximum epochs. */
  readonly epochs: number;
  /** Batch size. */
  readonly batchSize: number;
  /** Seed of the shuffles and initial weights (the split is the CNN's). */
  readonly seed: number;
  /** Adamax learning rate. */
  readonly learningRate: number;
  /** Early-stopping patience, epochs (on validation cross-entropy). */
  readonly patience: number;
  /** Channels of every hidden convolution. */
  readonly channels: number;
  /** Standard deviation of the target bump, cents. */
  readonly sigmaCents: number;
  /** The input spectrum's layout. */
  readonly spectrum: LogSpectrumConfig;
}

/** The defaults of `npm run train-carrier`. */
export const DEFAULT_CARRIER_NET_CONFIG: CarrierNetConfig = Object.freeze({
  epochs: 60,
  batchSize: 32,
  seed: 0,
  // Chosen on the validation split of the 5,000-patch dataset: 0.004 reached a lower best
  // validation cross-entropy (3.690) than 0.008 (3.714), and 0.002 learnt about half as fast.
  learningRate: 0.004,
  patience: 8,
  channels: 32,
  sigmaCents: 15,
  spectrum: DEFAULT_LOG_SPECTRUM,
});

/** Dilations of the residual layers: receptive field ±(1 + 2·(1 + 2 + … + 256)) = ±1,023 taps wide, ±512 bins (±4.3 octaves at 10 cents). */
const DILATIONS = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;

/** The folder of a CNN model that holds its carrier net. */
export const CARRIER_DIR = 'carrier';

/** Files of the carrier folder: named as train-cnn's. */
export const CARRIER_FILES = (({ config, history, testMetrics, checkpoint, state, optimizer }) => ({ config, history, testMetrics, checkpoint, state, optimizer }))(TRAIN_FILES);

const carrierSpec = PARAM_SPECS[0];
if (carrierSpec?.name !== 'carrier_hz') throw new Error('parameter table must start with carrier_hz');

/** An error the user caused (no CNN folder, incompatible checkpoint): printed as one line. */
export class CarrierNetError extends Error {}

/** A 31-bit seed per layer from the run's seed and the layer's name (FNV-1a): seeds of nearby runs share no layer's weights. */
function layerSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}/${name}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/**
 * Builds the net for `config.spectrum.count` bins; its output is one logit per bin (apply a
 * softmax for probabilities). Seeded initialisers: same seed, same weights.
 *
 * @param activation of the hidden convolutions; ReLU, or a smooth one for gradient checks.
 */
export function buildCarrierNet(config: CarrierNetConfig, activation: 'relu' | 'tanh' = 'relu'): tf.LayersModel {
  const bins = config.spectrum.count;
  const input = tf.input({ shape: [bins, 1], name: 'log_spectrum' });
  const conv = (name: string, filters: number, kernelSize: number, dilationRate: number, act: 'relu' | 'tanh' | 'linear', useBias = true): tf.layers.Layer =>
    tf.layers.conv1d({ name, filters, kernelSize, dilationRate, padding: 'same', activation: act, useBias, kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed(config.seed, name) }) });
  let h = conv('stem', config.channels, 3, 1, activation).apply(input) as tf.SymbolicTensor;
  for (const d of DILATIONS) {
    const c = conv(`dilated${d}`, config.channels, 3, d, activation).apply(h) as tf.SymbolicTensor;
    h = tf.layers.add({ name: `residual${d}` }).apply([h, c]) as tf.SymbolicTensor;
  }
  // No bias on the logits: the softmax ignores a constant added to every bin (its gradient is 0).
  const o = conv('logits', 1, 1, 1, 'linear', false).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.flatten({ name: 'carrier_logits' }).apply(o) as tf.SymbolicTensor, name: 'carrier_net' });
}

/** Softmax cross-entropy of logits [n, bins] against target distributions [n, bins], mean over notes, nats. */
function softmaxCrossEntropy(yTrue: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(yTrue, tf.logSoftmax(logits)), -1))));
}

/**
 * Writes the training target for a carrier: a Gaussian bump of σ = `config.sigmaCents` over the
 * spectrum's bins, summed to 1.
 *
 * @param hz carrier, Hz (> 0)
 * @param out receives `config.spectrum.count` values from `offset`
 */
export function encodeCarrierTarget(config: CarrierNetConfig, hz: number, out: Float32Array, offset = 0): void {
  if (!(hz > 0)) throw new Error(`carrier frequency must be positive, got ${hz}`);
  const { count, binCents } = config.spectrum;
  const c = logSpectrumBinOf(config.spectrum, hz);
  const s2 = 2 * config.sigmaCents * config.sigmaCents;
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const d = (k - c) * binCents;
    const v = Math.exp(-(d * d) / s2);
    out[offset + k] = v;
    sum += v;
  }
  for (let k = 0; k < count; k++) out[offset + k] = (out[offset + k] as number) / sum;
}

/**
 * Reads a carrier back from bin probabilities: the most probable bin whose centre lies in the
 * carrier's range (20 … 6,000 Hz), refined by the probability-weighted mean of the bins within ±3
 * of it, and clipped to the range.
 *
 * @param probs `spectrum.count` probabilities (or any non-negative weights) from `offset`
 * @returns Hz
 */
export function decodeCarrier(spectrum: LogSpectrumConfig, probs: ArrayLike<number>, offset = 0): number {
  const lo = Math.max(0, Math.ceil(logSpectrumBinOf(spectrum, carrierSpec.min)));
  const hi = Math.min(spectrum.count - 1, Math.floor(logSpectrumBinOf(spectrum, carrierSpec.max)));
  let best = lo;
  for (let k = lo; k <= hi; k++) if ((probs[offset + k] as number) > (probs[offset + best] as number)) best = k;
  let s = 0;
  let w = 0;
  for (let k = Math.max(0, best - 3); k <= Math.min(spectrum.count - 1, best + 3); k++) {
    const p = probs[offset + k] as number;
    s += p;
    w += k * p;
  }
  const hz = logSpectrumBinHz(spectrum, s > 0 ? w / s : best);
  return Math.min(carrierSpec.max, Math.max(carrierSpec.min, hz));
}

/** One row of carrier/history.csv. */
export interface CarrierEpochRecord {
  readonly epoch: number;
  /** Mean training cross-entropy, nats. */
  readonly loss: number;
  /** Validation cross-entropy, nats. */
  readonly val_loss: number;
  /** Median |carrier error| on the validation split, cents. */
  readonly val_carrier_cents: number;
  /** Share of validation notes within 50 cents, 0 … 1. */
  readonly val_within_50: number;
  /** Wall time of the epoch (training and validation), s. */
  readonly seconds: number;
  readonly samples_per_sec: number;
}

/** Saved training state (checkpoint/state.json, written last, atomically, after each epoch). */
interface CarrierState {
  readonly config: CarrierNetConfig;
  readonly datasetHash: string;
  readonly splitHash: string;
  /** Content hashes of the extra training datasets, in order (absent in runs without them). */
  readonly extraHashes?: readonly string[];
  readonly epochsDone: number;
  readonly bestValLoss: number;
  readonly bestEpoch: number;
  readonly history: CarrierEpochRecord[];
  readonly stopped: 'running' | 'early-stopping' | 'max-epochs';
}

/** Progress callbacks and the interrupt signal. */
export interface CarrierTrainHooks {
  onFeatures?: (done: number, total: number) => void;
  onBatch?: (epoch: number, batch: number, batches: number, loss: number, samplesPerSec: number) => void;
  onEpoch?: (record: CarrierEpochRecord, best: boolean) => void;
  /** Aborting stops after the current note (spectra) or batch; the last epoch's checkpoint stays. */
  signal?: AbortSignal;
}

/** What a training run did. */
export interface CarrierTrainSummary {
  readonly dir: string;
  readonly epochsDone: number;
  readonly bestEpoch: number;
  /** Best validation cross-entropy, nats. */
  readonly bestValLoss: number;
  readonly stopped: CarrierState['stopped'] | 'interrupted';
  /** Wall time of this call, s. */
  readonly totalSec: number;
  /** Of which computing the spectra, s. */
  readonly featureSec: number;
  /** Training notes per epoch (the CNN's training split and any extra data). */
  readonly trainNotes: number;
}

/** |1200·log2(a / b)|, cents; a ≤ 0 counts as 1 mHz. */
export function centsBetween(a: number, b: number): number {
  return Math.abs(1200 * Math.log2(Math.max(a, 1e-3) / b));
}

/** Share (0 … 1) of (predicted, true) carrier pairs within `cents` of each other. */
export function shareWithinCents(pairs: ReadonlyArray<{ truth: readonly number[]; predicted: readonly number[] }>, cents: number): number {
  if (pairs.length === 0) return NaN;
  return pairs.filter((p) => centsBetween(p.predicted[0] as number, p.truth[0] as number) < cents).length / pairs.length;
}

const median = (xs: readonly number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
const writeJson = writeJsonAtomic;

function historyCsv(history: readonly CarrierEpochRecord[]): string {
  const cols = ['epoch', 'loss', 'val_loss', 'val_carrier_cents', 'val_within_50', 'seconds', 'samples_per_sec'] as const;
  return `${cols.join(',')}\n${history.map((h) => cols.map((c) => (c === 'epoch' ? String(h[c]) : h[c].toPrecision(6))).join(',')).join('\n')}\n`;
}

/** SHA-256 of a split's row lists: a carrier net is only valid beside the CNN whose split it was trained on. */
export function splitHash(split: Split): string {
  return createHash('sha256').update(JSON.stringify([split.train, split.validation, split.test])).digest('hex');
}

/**
 * Refuses extra training datasets that could leak the CNN's validation or test notes into the
 * carrier net's training: any patch of an extra dataset whose 15 parameters equal those of a patch
 * of the CNN's dataset (the same generator seed with another count makes the same patches; so does
 * a copy). Also checks that the notes have the CNN dataset's rate and length, and that the synth
 * (everything in the dataset config but the count and the seed) is the same.
 *
 * @throws CarrierNetError naming the dataset and the first shared patch.
 */
export function checkExtraData(index: DatasetIndex, extras: readonly DatasetIndex[]): void {
  const width = PARAM_SPECS.length;
  const key = (d: DatasetIndex, r: number): string => Array.from(d.params.subarray(r * width, (r + 1) * width)).join(',');
  const own = new Map<string, number>();
  for (let r = 0; r < index.ids.length; r++) own.set(key(index, r), r);
  const seen = new Set<string>([index.contentHash]);
  for (const x of extras) {
    if (seen.has(x.contentHash)) throw new CarrierNetError(`${x.dir}: this dataset is already part of the training data (content hash ${x.contentHash})`);
    seen.add(x.contentHash);
    if (x.sampleRate !== index.sampleRate || x.samplesPerNote !== index.samplesPerNote) {
      throw new CarrierNetError(`${x.dir}: notes of ${x.samplesPerNote} samples at ${x.sampleRate} Hz; the model's dataset has ${index.samplesPerNote} at ${index.sampleRate} Hz`);
    }
    // Another synth (routing, feedback, Nyquist policy, render, level) makes other sounds for the
    // same parameters: training on them would teach the net a different instrument.
    const synth = (d: DatasetIndex): Record<string, unknown> => ({ ...d.config, count: undefined, seed: undefined });
    const differ = optionDifferences(synth(index), synth(x), {}, ['count', 'seed']);
    if (differ.length > 0) throw new CarrierNetError(`${x.dir}: made with another synth than the model's dataset (${differ.join(', ')}; the model's first)`);
    for (let r = 0; r < x.ids.length; r++) {
      const hit = own.get(key(x, r));
      if (hit !== undefined) {
        throw new CarrierNetError(`${x.dir}: patch ${x.ids[r]} has the same parameters as ${index.ids[hit]} of the model's dataset ${index.dir} (a dataset made with the same seed?); extra training data must not share patches with it, or the test split would leak into training`);
      }
    }
  }
}

/**
 * Computes the log spectra of dataset rows, [rows.length × bins] flattened. Memory: 4 bytes per
 * bin per note (4.3 kB at the default layout: 22 MB for 5,000 notes, 217 MB for 50,000).
 *
 * @param into write the spectra into `out` from note `offsetNotes` on (no new array)
 * @returns the spectra (`into.out` when given), or null if `signal` aborted first.
 */
export async function spectraOfRows(index: DatasetIndex, rows: readonly number[], spectrum: LogSpectrumConfig, onProgress?: (done: number, total: number) => void, signal?: AbortSignal, into?: { out: Float32Array; offsetNotes: number }): Promise<Float32Array | null> {
  const plan = new LogSpectrumPlan(spectrum);
  const out = into?.out ?? new Float32Array(rows.length * spectrum.count);
  const first = into?.offsetNotes ?? 0;
  // Typed arrays drop writes past their end silently: a short buffer would leave zero spectra.
  if (!Number.isInteger(first) || first < 0 || (first + rows.length) * spectrum.count > out.length) {
    throw new Error(`spectraOfRows: notes ${first} … ${first + rows.length - 1} do not fit a buffer of ${out.length / spectrum.count} notes`);
  }
  for (let i = 0; i < rows.length; i++) {
    if (signal?.aborted) return null;
    plan.compute(await loadAudio(index, rows[i] as number), out, (first + i) * spectrum.count);
    if (i % 50 === 49 || i === rows.length - 1) onProgress?.(i + 1, rows.length);
  }
  return out;
}

/** Log-probabilities of the bins [m × bins] (log-softmax of the net's logits) for spectra [m × bins]. */
function logProbabilities(model: tf.LayersModel, x: Float32Array, m: number, bins: number): Float32Array {
  return tf.tidy(() => tf.logSoftmax(model.predict(tf.tensor3d(x, [m, bins, 1])) as tf.Tensor).dataSync() as Float32Array);
}

/** The net's probabilities of the bins [n × bins] for spectra [n × bins], in batches. */
function carrierProbabilitiesFromSpectra(model: tf.LayersModel, bins: number, x: Float32Array, n: number, batchSize = 64): Float32Array {
  const out = new Float32Array(n * bins);
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    const logp = logProbabilities(model, x.subarray(s * bins, (s + m) * bins), m, bins);
    for (let k = 0; k < logp.length; k++) out[s * bins + k] = Math.exp(logp[k] as number);
  }
  return out;
}

/** Cross-entropy (mean over notes, nats) and carrier errors (cents) of the net on spectra `x`. */
function evaluate(model: tf.LayersModel, config: CarrierNetConfig, x: Float32Array, carriers: readonly number[]): { loss: number; cents: number[] } {
  const bins = config.spectrum.count;
  const n = carriers.length;
  let loss = 0;
  const cents: number[] = [];
  const y = new Float32Array(bins);
  for (let s = 0; s < n; s += config.batchSize) {
    const m = Math.min(config.batchSize, n - s);
    const logp = logProbabilities(model, x.subarray(s * bins, (s + m) * bins), m, bins);
    const p = Float32Array.from(logp, Math.exp);
    for (let b = 0; b < m; b++) {
      const hz = carriers[s + b] as number;
      encodeCarrierTarget(config, hz, y);
      for (let k = 0; k < bins; k++) loss -= (y[k] as number) * (logp[b * bins + k] as number);
      cents.push(centsBetween(decodeCarrier(config.spectrum, p, b * bins), hz));
    }
  }
  return { loss: loss / n, cents };
}


/**
 * Trains (or resumes) the carrier net of the CNN model in `cnnDir` on that model's training split,
 * early-stopping on its validation split; the test split is never read. The best net is in
 * `cnnDir/carrier/` once the first epoch is done.
 *
 * Checkpoints: after each epoch the model and optimizer go to `checkpoint/epoch-NNNN/`, then
 * `state.json` (naming that epoch) is replaced atomically, then the best net is copied out and
 * older epoch folders removed; a crash at any point leaves a state whose files all exist.
 *
 * @param split the CNN's split (row indices of `index`)
 * @throws CarrierNetError on an incompatible checkpoint, an empty validation split, divergence.
 */
export async function trainCarrierNet(index: DatasetIndex, cnnDir: string, split: Split, config: CarrierNetConfig, backend: BackendInfo, resume: boolean, hooks: CarrierTrainHooks = {}, extras: readonly DatasetIndex[] = []): Promise<CarrierTrainSummary> {
  const t0 = performance.now();
  checkLogSpectrumConfig(config.spectrum);
  if (index.config.sampleRate !== config.spectrum.sampleRate) throw new CarrierNetError(`${index.dir}: notes at ${index.config.sampleRate} Hz, the carrier net's spectrum expects ${config.spectrum.sampleRate} Hz`);
  if (index.samplesPerNote > config.spectrum.fftSize) throw new CarrierNetError(`${index.dir}: notes of ${index.samplesPerNote} samples exceed the spectrum's FFT size ${config.spectrum.fftSize}`);
  if (split.train.length === 0 || split.validation.length === 0) throw new CarrierNetError(`${cnnDir}: the model's split has an empty training or validation part`);
  checkExtraData(index, extras);
  const extraHashes = extras.map((x) => x.contentHash);
  const dir = path.join(cnnDir, CARRIER_DIR);
  const ckptDir = path.join(dir, CARRIER_FILES.checkpoint);
  const statePath = path.join(ckptDir, CARRIER_FILES.state);
  const hashOfSplit = splitHash(split);
  let state: CarrierState;
  let model: tf.LayersModel;
  const optimizer = new SaveableAdamax(config.learningRate);
  if (resume) {
    if (!existsSync(statePath)) throw new CarrierNetError(`${dir}: no carrier checkpoint to resume (${statePath} missing)`);
    state = readModelJson<CarrierState>(statePath);
    const differ = optionDifferences(state.config, config, { batchSize: '--batch', seed: '--seed', learningRate: '--lr', patience: '--patience', channels: '--channels', sigmaCents: 'sigmaCents', spectrum: 'spectrum' }, ['epochs']);
    if (differ.length > 0) throw new CarrierNetError(`${dir}: the checkpoint was made with other options (${differ.join(', ')}; checkpoint first); resume with the same options`);
    if (state.datasetHash !== index.contentHash) throw new CarrierNetError(`${dir}: the checkpoint was trained on another dataset (${state.datasetHash}, this one is ${index.contentHash})`);
    if (state.splitHash !== hashOfSplit) throw new CarrierNetError(`${dir}: the checkpoint was trained on another split than ${cnnDir}'s`);
    if (JSON.stringify(state.extraHashes ?? []) !== JSON.stringify(extraHashes)) {
      throw new CarrierNetError(`${dir}: the checkpoint was trained with other extra data (${(state.extraHashes ?? []).length} extra dataset(s)); resume with the same --extra-data`);
    }
    if (state.stopped === 'max-epochs' && config.epochs > state.epochsDone) state = { ...state, stopped: 'running' };
    state = { ...state, config };
    const last = path.join(ckptDir, epochDirName(state.epochsDone));
    model = await loadLayersModelFrom(last);
    const saved = loadNamedTensors(path.join(last, CARRIER_FILES.optimizer));
    model.compile({ optimizer, loss: softmaxCrossEntropy });
    await optimizer.setWeights(saved);
    for (const t of saved) t.tensor.dispose();
    // The best net of the state, whatever a crash left in `dir` (tiny: a copy is cheap).
    for (const f of ['model.json', 'weights.bin']) cpSync(path.join(ckptDir, epochDirName(state.bestEpoch), f), path.join(dir, f));
  } else {
    if (existsSync(statePath)) throw new CarrierNetError(`${dir} already holds a carrier training run; use --resume to continue it`);
    mkdirSync(ckptDir, { recursive: true });
    writeJson(path.join(dir, CARRIER_FILES.config), {
      format: 'fmmatch-carrier-net',
      config,
      dataset: { dir: index.dir, contentHash: index.contentHash },
      splitHash: hashOfSplit,
      extraData: extras.map((x) => ({ dir: x.dir, contentHash: x.contentHash, notes: x.ids.length })),
      backend,
    });
    model = buildCarrierNet(config);
    model.compile({ optimizer, loss: softmaxCrossEntropy });
    state = { config, datasetHash: index.contentHash, splitHash: hashOfSplit, ...(extras.length > 0 ? { extraHashes } : {}), epochsDone: 0, bestValLoss: Infinity, bestEpoch: 0, history: [], stopped: 'running' };
  }

  try {
    const bins = config.spectrum.count;
    const tf0 = performance.now();
    // Training notes: the CNN's training split, then every note of each extra dataset.
    const sources: { index: DatasetIndex; rows: readonly number[] }[] = [{ index, rows: split.train }, ...extras.map((x) => ({ index: x, rows: x.ids.map((_, r) => r) }))];
    const nTrain = sources.reduce((a, src) => a + src.rows.length, 0);
    // A resume with nothing left to train (its epochs used up, or stopped early) only finishes
    // the run: no spectra needed (2–3 minutes for 24,000 notes).
    const toTrain = state.stopped === 'running' && state.epochsDone < config.epochs;
    const nAll = toTrain ? nTrain + split.validation.length : 0;
    const all = new Float32Array(nAll * bins);
    let done = 0;
    let aborted = false;
    for (const src of toTrain ? [...sources, { index, rows: split.validation }] : []) {
      if ((await spectraOfRows(src.index, src.rows, config.spectrum, (d) => hooks.onFeatures?.(done + d, nAll), hooks.signal, { out: all, offsetNotes: done })) === null) {
        aborted = true;
        break;
      }
      done += src.rows.length;
    }
    const featureSec = (performance.now() - tf0) / 1000;
    const summary = (stopped: CarrierTrainSummary['stopped']): CarrierTrainSummary => ({
      dir,
      epochsDone: state.epochsDone,
      bestEpoch: state.bestEpoch,
      bestValLoss: state.bestValLoss,
      stopped,
      totalSec: (performance.now() - t0) / 1000,
      featureSec,
      trainNotes: nTrain,
    });
    if (aborted) return summary('interrupted');
    const xTrain = all.subarray(0, nTrain * bins);
    const xVal = all.subarray(nTrain * bins);
    const carrierOf = (d: DatasetIndex, r: number): number => paramsOf(d, r)[0] as number;
    const trainCarriers = toTrain ? sources.flatMap((src) => src.rows.map((r) => carrierOf(src.index, r))) : [];
    const valCarriers = split.validation.map((r) => carrierOf(index, r));

    const xb = new Float32Array(config.batchSize * bins);
    const yb = new Float32Array(config.batchSize * bins);
    for (let epoch = state.epochsDone + 1; state.stopped === 'running' && epoch <= config.epochs; epoch++) {
      const te = performance.now();
      const order = seededPermutation(nTrain, `fmmatch/carrier-epoch/${config.seed}/${epoch}`);
      const batches = Math.ceil(order.length / config.batchSize);
      let sumLoss = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        const idx = order.slice(b * config.batchSize, (b + 1) * config.batchSize);
        idx.forEach((i, j) => {
          xb.set(xTrain.subarray(i * bins, (i + 1) * bins), j * bins);
          encodeCarrierTarget(config, trainCarriers[i] as number, yb, j * bins);
        });
        const n = idx.length;
        const xt = tf.tensor3d(xb.subarray(0, n * bins), [n, bins, 1]);
        const yt = tf.tensor2d(yb.subarray(0, n * bins), [n, bins]);
        let loss: number;
        try {
          loss = (await model.trainOnBatch(xt, yt)) as number;
        } finally {
          xt.dispose();
          yt.dispose();
        }
        if (!Number.isFinite(loss)) throw new CarrierNetError(`carrier training diverged at epoch ${epoch}, batch ${b + 1}; try a lower --lr`);
        sumLoss += loss * n;
        seen += n;
        hooks.onBatch?.(epoch, b + 1, batches, sumLoss / seen, seen / ((performance.now() - te) / 1000));
        await yieldToEventLoop();
        if (hooks.signal?.aborted) return summary('interrupted');
      }
      const trainSec = (performance.now() - te) / 1000;
      const val = evaluate(model, config, xVal, valCarriers);
      if (!Number.isFinite(val.loss)) throw new CarrierNetError(`carrier training diverged at epoch ${epoch} (validation loss ${val.loss}); try a lower --lr`);
      const record: CarrierEpochRecord = {
        epoch,
        loss: sumLoss / seen,
        val_loss: val.loss,
        val_carrier_cents: median(val.cents),
        val_within_50: val.cents.filter((c) => c < 50).length / val.cents.length,
        seconds: (performance.now() - te) / 1000,
        samples_per_sec: seen / trainSec,
      };
      const best = val.loss < state.bestValLoss;
      const bestEpoch = best ? epoch : state.bestEpoch;
      const bestValLoss = best ? val.loss : state.bestValLoss;
      let next: CarrierState['stopped'] = 'running';
      if (epoch - bestEpoch >= config.patience) next = 'early-stopping';
      else if (epoch >= config.epochs) next = 'max-epochs';
      const epochDir = path.join(ckptDir, epochDirName(epoch));
      mkdirSync(epochDir, { recursive: true });
      await model.save(fileSaveHandler(epochDir));
      await saveNamedTensors(path.join(epochDir, CARRIER_FILES.optimizer), await optimizer.getWeights());
      state = { ...state, epochsDone: epoch, bestEpoch, bestValLoss, history: [...state.history, record], stopped: next };
      writeJson(statePath, state);
      writeFileSync(path.join(dir, CARRIER_FILES.history), historyCsv(state.history));
      if (best) for (const f of ['model.json', 'weights.bin']) cpSync(path.join(epochDir, f), path.join(dir, f));
      // Keep the last epoch (resume) and the best one (the net); older folders go.
      const keep = new Set([epochDirName(epoch), epochDirName(bestEpoch)]);
      for (const d of readdirSync(ckptDir)) if (d.startsWith('epoch-') && !keep.has(d)) rmSync(path.join(ckptDir, d), { recursive: true, force: true });
      hooks.onEpoch?.(record, best);
    }
    // Resumed with its epochs already used up: the run is finished; say so in the state.
    if (state.stopped === 'running') {
      state = { ...state, stopped: 'max-epochs' };
      writeJson(statePath, state);
    }
    return summary(state.stopped);
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}

/** A loaded carrier net. */
export interface CarrierPredictor {
  readonly dir: string;
  readonly model: tf.LayersModel;
  readonly config: CarrierNetConfig;
  /** The spectrum plan (FFT tables), kept for reuse across batches. */
  readonly plan: LogSpectrumPlan;
}

/**
 * Whether `cnnDir` has a carrier net to use: `absent`; `unfinished` (a run still training or
 * interrupted: its net is not used until train-carrier finishes, so a half-trained net never
 * silently replaces the CNN's carrier); `ready`.
 */
export function carrierNetStatus(cnnDir: string): 'absent' | 'unfinished' | 'ready' {
  const dir = path.join(cnnDir, CARRIER_DIR);
  if (!existsSync(path.join(dir, 'model.json'))) return 'absent';
  const statePath = path.join(dir, CARRIER_FILES.checkpoint, CARRIER_FILES.state);
  // No checkpoint (removed after training): the net in `dir` is the finished one.
  if (!existsSync(statePath)) return 'ready';
  return readModelJson<CarrierState>(statePath).stopped === 'running' ? 'unfinished' : 'ready';
}

/**
 * Loads `cnnDir/carrier/`, checking that it was trained on `cnnDir`'s split (a net trained beside
 * another split could have seen this model's test notes). Throws an Error naming the file and the
 * problem.
 *
 * @param expectedSplit the CNN's split; omitted: not checked.
 */
export async function loadCarrierNet(cnnDir: string, expectedSplit?: Split): Promise<CarrierPredictor> {
  const dir = path.join(cnnDir, CARRIER_DIR);
  const cfgPath = path.join(dir, CARRIER_FILES.config);
  if (!existsSync(cfgPath)) throw new Error(`${cfgPath}: missing (not a train-carrier output folder?)`);
  const saved = readModelJson<{ format?: string; config?: CarrierNetConfig; splitHash?: string }>(cfgPath);
  if (saved.format !== 'fmmatch-carrier-net' || !saved.config) throw new Error(`${cfgPath}: not a carrier-net config`);
  if (expectedSplit && saved.splitHash !== splitHash(expectedSplit)) {
    throw new Error(`${cfgPath}: this carrier net was trained beside another split than ${cnnDir}'s; train it again (npm run train-carrier -- --model ${cnnDir}) or pass --no-spectral-carrier`);
  }
  try {
    checkLogSpectrumConfig(saved.config.spectrum);
  } catch (e) {
    throw new Error(`${cfgPath}: ${(e as Error).message}`);
  }
  const model = await loadLayersModelFrom(dir);
  const inShape = model.inputs[0]?.shape;
  if (inShape?.[1] !== saved.config.spectrum.count) {
    model.dispose();
    throw new Error(`${dir}: the net takes ${inShape?.[1]} bins but config.json names ${saved.config.spectrum.count}`);
  }
  return { dir, model, config: saved.config, plan: new LogSpectrumPlan(saved.config.spectrum) };
}

/**
 * Carrier (Hz) of each note by the carrier net.
 *
 * @param notes audio at the spectrum's sample rate, each ≤ its FFT size; any level.
 */
export function predictCarrierHz(predictor: CarrierPredictor, notes: readonly Float32Array[]): number[] {
  const { spectrum } = predictor.config;
  const p = carrierProbabilities(predictor, notes);
  return notes.map((_, b) => decodeCarrier(spectrum, p, b * spectrum.count));
}

/**
 * The net's probability of each log-frequency bin (`config.spectrum`; bin k centred at
 * `logSpectrumBinHz(spectrum, k)`) being the carrier, per note: [notes × bins], each row summing to 1.
 *
 * @param notes audio at the spectrum's sample rate, each ≤ its FFT size; any level.
 */
export function carrierProbabilities(predictor: CarrierPredictor, notes: readonly Float32Array[]): Float32Array {
  const bins = predictor.config.spectrum.count;
  const x = new Float32Array(notes.length * bins);
  notes.forEach((a, i) => predictor.plan.compute(a, x, i * bins));
  return carrierProbabilitiesFromSpectra(predictor.model, bins, x, notes.length);
}
