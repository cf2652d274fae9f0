/**
 * Using a trained CNN: load it with its target normalisation and the synth config it was trained
 * for, and predict patch parameters for notes, in batches.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DatasetConfig } from '../dataset/config.ts';
import { checkNormalization, type TargetNormalization } from '../dataset/targets.ts';
import { PARAM_COUNT, PARAM_SPECS } from '../synth/params.ts';
import { type CarrierPredictor, carrierNetStatus, loadCarrierNet, predictCarrierHz } from './carrier-net.ts';
import { loadLayersModelFrom, readModelJson } from './io.ts';
import { predictPrepared, prepareInput, readSplit, TRAIN_FILES } from './train-cnn.ts';

/** A loaded model, ready to predict. */
export interface CnnPredictor {
  readonly dir: string;
  readonly model: tf.LayersModel;
  readonly norm: TargetNormalization;
  /** The dataset config the model was trained on (algorithm, rates, note length). */
  readonly synth: DatasetConfig;
  /** Samples per input note. */
  readonly inputLength: number;
  /** The spectral carrier net (`<dir>/carrier/`, ours) whose carrier replaces the CNN's, or null. */
  readonly carrier: CarrierPredictor | null;
  /**
   * Where the carrier comes from: `net` (the carrier net), or the CNN because there is none
   * (`cnn`), it is still training or was interrupted (`cnn-net-unfinished`), or it was not asked
   * for (`cnn-net-off`).
   */
  readonly carrierSource: 'net' | 'cnn' | 'cnn-net-unfinished' | 'cnn-net-off';
}

/** Options of {@link loadCnn}. */
export interface LoadCnnOptions {
  /** Use `<dir>/carrier/` when it exists (default true); false: the CNN's own carrier. */
  readonly spectralCarrier?: boolean;
}

/** Loads a `train-cnn` output folder. Throws an Error naming the file and the problem. */
export async function loadCnn(dir: string, options: LoadCnnOptions = {}): Promise<CnnPredictor> {
  const cfgPath = path.join(dir, TRAIN_FILES.config);
  if (!existsSync(cfgPath)) throw new Error(`${cfgPath}: missing (not a train-cnn output folder?)`);
  const cfg = readModelJson<{ dataset?: { config?: DatasetConfig }; paramSpec?: { name: string }[] } | null>(cfgPath);
  if (typeof cfg !== 'object' || cfg === null) throw new Error(`${cfgPath}: corrupt (not a JSON object)`);
  const synth = cfg.dataset?.config;
  if (!synth) throw new Error(`${cfgPath}: no dataset config recorded`);
  const specNames = (cfg.paramSpec ?? []).map((s) => s.name);
  if (specNames.join(',') !== PARAM_SPECS.map((s) => s.name).join(',')) {
    throw new Error(`${cfgPath}: the model's parameter spec (${specNames.join(', ')}) does not match this version's`);
  }
  const targetsPath = path.join(dir, TRAIN_FILES.targets);
  const norm = readModelJson<TargetNormalization>(targetsPath);
  try {
    if (typeof norm !== 'object' || norm === null || !Array.isArray(norm.names)) throw new Error('no parameter names');
    checkNormalization(norm);
  } catch (e) {
    throw new Error(`${targetsPath}: ${(e as Error).message}`);
  }
  const model = await loadLayersModelFrom(dir);
  const shape = model.inputs[0].shape;
  const outShape = model.outputs[0].shape;
  const bins = norm.carrierBins;
  const problem =
    outShape[outShape.length - 1] !== PARAM_COUNT
      ? `the model outputs ${outShape[outShape.length - 1]} values, expected ${PARAM_COUNT}`
      : bins && model.outputs[1]?.shape[1] !== bins.count
        ? `targets.json names ${bins.count} carrier bins but the model has no such output`
        : null;
  if (problem !== null) {
    model.dispose();
    throw new Error(`${dir}: ${problem}`);
  }
  const status = carrierNetStatus(dir);
  const wanted = options.spectralCarrier ?? true;
  let carrier: CarrierPredictor | null = null;
  if (wanted && status === 'ready') {
    try {
      carrier = await loadCarrierNet(dir, readSplit(dir));
      if (carrier.config.spectrum.sampleRate !== synth.sampleRate) throw new Error(`${carrier.dir}: the carrier net takes ${carrier.config.spectrum.sampleRate} Hz notes, the CNN ${synth.sampleRate} Hz`);
    } catch (e) {
      carrier?.model.dispose();
      model.dispose();
      throw e;
    }
  }
  const carrierSource = carrier ? 'net' : !wanted && status !== 'absent' ? 'cnn-net-off' : status === 'unfinished' ? 'cnn-net-unfinished' : 'cnn';
  return { dir, model, norm, synth, inputLength: shape[1] as number, carrier, carrierSource };
}

/**
 * Predicts parameters (original units, not snapped) for notes, in batches; with a carrier net, the
 * carrier is its.
 *
 * @param notes 16 kHz audio, each of `predictor.inputLength` samples.
 * @returns one 15-vector per note, PARAM_SPECS order.
 */
export function predictParams(predictor: CnnPredictor, notes: readonly Float32Array[], batchSize = 32): number[][] {
  const L = predictor.inputLength;
  const out: number[][] = [];
  for (let start = 0; start < notes.length; start += batchSize) {
    const batch = notes.slice(start, start + batchSize);
    const x = new Float32Array(batch.length * L);
    batch.forEach((a, b) => {
      if (a.length !== L) throw new Error(`a note has ${a.length} samples; the model takes ${L}`);
      prepareInput(a, x, b * L);
    });
    const params = predictPrepared(predictor.model, predictor.norm, x, batch.length, L);
    if (predictor.carrier) predictCarrierHz(predictor.carrier, batch).forEach((hz, b) => (params[b][0] = hz));
    out.push(...params);
  }
  return out;
}
