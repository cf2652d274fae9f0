/**
 * Using a trained DDX7 model: load it, render a whole signal, or render block by block
 * (causal streaming: the decoder's receptive-field context, the oscillator phase, the last level
 * frame and the reverb's tail are carried between blocks, so the blocks join into the whole render).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { controlInputs, DDX7_FILES, ddx7Forward, type Ddx7Model, type Ddx7State, disposeDdx7State, loadDdx7Weights, reverbFilterOf } from './ddx7.ts';
import { DDX7_SAMPLE_RATE } from './ddx7-synth.ts';
import { corruptFileMessage, ModelFileError, readModelJson } from './io.ts';
import { type Ddx7ModelFile, resolveDdx7Features } from './train-ddx7.ts';

/** A loaded model with what its folder says about it. Free it with `disposeDdx7(loaded.model)`. */
export interface LoadedDdx7 {
  readonly model: Ddx7Model;
  readonly file: Ddx7ModelFile;
}

/**
 * Loads a model folder written by train-ddx7 (`ddx7.json` + `weights.{json,bin}`). Needs a started
 * backend (`initBackend`).
 *
 * @throws Error naming the missing or invalid file.
 */
export function loadDdx7(dir: string): LoadedDdx7 {
  const jsonPath = path.join(dir, DDX7_FILES.config);
  if (!existsSync(dir)) throw new Error(`${dir}: no such folder`);
  if (!existsSync(jsonPath)) throw new Error(`${jsonPath}: missing (not a train-ddx7 model folder)`);
  const file = readModelJson<Ddx7ModelFile | null>(jsonPath);
  if (typeof file !== 'object' || file === null) throw new Error(corruptFileMessage(jsonPath, 'not a JSON object'));
  if (file.format !== 'fmmatch-ddx7') throw new Error(`${jsonPath}: format is ${String(file.format)}, expected fmmatch-ddx7`);
  const weights = path.join(dir, DDX7_FILES.weights);
  try {
    return { model: loadDdx7Weights(file.config, weights), file };
  } catch (e) {
    // loadNamedTensors and the shape checks name the weights file; anything else (a config the
    // model cannot be built from) is the config's fault.
    if (e instanceof ModelFileError || (e as Error).message.startsWith(weights)) throw e;
    throw new Error(corruptFileMessage(jsonPath, e));
  }
}

function modelOf(m: Ddx7Model | LoadedDdx7): Ddx7Model {
  return 'file' in m ? m.model : m;
}

/**
 * Renders a whole signal.
 *
 * @param model a model, or what {@link loadDdx7} returned
 * @param f0Hz f0 per frame (250 frames/s), Hz
 * @param loudnessDb loudness per frame, dB (the features the model was trained with)
 * @returns audio at 16 kHz, [frames·64]
 */
export function renderDdx7(m: Ddx7Model | LoadedDdx7, f0Hz: Float32Array, loudnessDb: Float32Array): Float32Array {
  const model = modelOf(m);
  const out = ddx7Forward(model, f0Hz, controlInputs(f0Hz, loudnessDb, model.config), 1);
  const audio = out.audio.dataSync() as Float32Array;
  tf.dispose([out.audio, out.levels]);
  return audio;
}

/** A causal block renderer. */
export interface Ddx7Stream {
  /** Renders the next block: f0 and loudness frames in, frames·64 samples out. */
  process(f0Hz: Float32Array, loudnessDb: Float32Array): Float32Array;
  /** Frees the carried state. */
  dispose(): void;
}

/** Starts a stream (one signal). */
export function createDdx7Stream(m: Ddx7Model | LoadedDdx7): Ddx7Stream {
  const model = modelOf(m);
  let state: Ddx7State | null = null;
  // The reverb filter depends on the weights only: build it once, not per block.
  const reverbFilter = reverbFilterOf(model);
  return {
    process(f0Hz, loudnessDb) {
      const out = ddx7Forward(model, f0Hz, controlInputs(f0Hz, loudnessDb, model.config), 1, { state, keepState: true, ...(reverbFilter ? { reverbFilter } : {}) });
      const audio = out.audio.dataSync() as Float32Array;
      tf.dispose([out.audio, out.levels]);
      disposeDdx7State(state);
      state = out.state;
      return audio;
    },
    dispose() {
      disposeDdx7State(state);
      state = null;
      reverbFilter?.dispose();
    },
  };
}

/**
 * Resynthesizes a note with DDX7 as the evaluator does: f0 from its metadata pitch (NSynth notes
 * are steady; the rule) and the note's own A-weighted loudness, both on the model's frame
 * grid.
 *
 * @param audio the note, 16 kHz
 * @param pitch MIDI pitch
 * @returns 16 kHz audio, [⌊n / 64⌋ · 64]
 */
export async function renderNoteDdx7(m: Ddx7Model | LoadedDdx7, audio: Float32Array, pitch: number): Promise<Float32Array> {
  const features = await resolveDdx7Features();
  const loud = features.loudnessDb(audio, DDX7_SAMPLE_RATE);
  const f0 = new Float32Array(loud.length).fill(440 * Math.pow(2, (pitch - 69) / 12));
  return renderDdx7(m, f0, loud);
}
