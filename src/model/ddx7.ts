/**
 * The DDX7 model (Caspe et al. 2022, §3): a causal TCN decoder maps pitch and loudness frames
 * (250 frames/s) to the output levels of a fixed-routing FM synth, followed by a learnable reverb.
 *
 * The decoder is written as a function over named variables rather than a tfjs-layers model so
 * that one forward pass serves both training (zero initial state = causal zero padding) and
 * streaming (each convolution's last (K − 1)·d input frames carried between blocks): rendering
 * block by block is then the whole-signal render, not an approximation of it. Differences from
 * the paper's decoder: no weight normalisation (a reparameterisation of the same function class
 * that tfjs lacks), dropout kept (rate is an option).
 */
import * as tf from '@tensorflow/tfjs';
import { ddx7Patch, type Ddx7Patch, maxLevels, operatorCount } from '../synth/ddx7-patches.ts';
import {
  convolveHistoryLength, convolvePolyphase, DDX7_HOP, DDX7_SAMPLE_RATE, fmSynth, operatorPhases, type PhaseState,
  polyphaseFilter, REVERB_BLOCK, reverbImpulse, upsampleLevels,
} from './ddx7-synth.ts';
import { loadNamedTensors, type NamedTensor, saveNamedTensors } from './io.ts';

/** What determines a DDX7 model (written into its folder). */
export interface Ddx7Config {
  /** Patch name (`src/synth/ddx7-patches.ts`). */
  readonly patch: string;
  /** Maximum modulation index, rad (paper §5.1: 2 flute/violin, 2π trumpet). */
  readonly iMax: number;
  /** Channels in the residual blocks (paper: 128). */
  readonly channels: number;
  /** Dilation per residual block (paper: 1, 2, 4, 8, 16). */
  readonly dilations: readonly number[];
  /** Taps per convolution (paper: 3). */
  readonly kernelSize: number;
  /** Dropout rate during training (paper: 0.5). */
  readonly dropout: number;
  /** Reverb impulse response length, s; 0 turns the reverb off (paper: 1 s). */
  readonly reverbSec: number;
  /** Loudness input range, dB: [floor, ceiling] maps to [0, 1] (facts: floored at −80 dB). */
  readonly loudnessRangeDb: readonly [number, number];
  /** Seed of the initial weights and reverb noise. */
  readonly seed: number;
}

/**
 * Defaults. The reverb is 1 s as in the paper: the polyphase convolution costs ≈ 2.6·10⁸
 * multiply-adds per second of audio, affordable for 1 s training excerpts; `--reverb-sec 0.25`
 * makes it 4× cheaper.
 */
export const DEFAULT_DDX7_CONFIG: Ddx7Config = Object.freeze({
  patch: 'flute',
  iMax: 2,
  channels: 128,
  dilations: Object.freeze([1, 2, 4, 8, 16]),
  kernelSize: 3,
  dropout: 0.5,
  reverbSec: 1,
  loudnessRangeDb: Object.freeze([-80, 0]) as readonly [number, number],
  seed: 0,
});

/** A DDX7 model: its config, patch and variables (decoder and reverb). */
export interface Ddx7Model {
  readonly config: Ddx7Config;
  readonly patch: Ddx7Patch;
  /** Variables by short name (`block0_a/kernel`, …, `reverb/ir`), in creation order. */
  readonly vars: ReadonlyMap<string, tf.Variable>;
}

let modelCounter = 0;

/** Receptive field of the decoder, frames: 1 + Σ 2·(K − 1)·d (paper: 125 frames = 0.5 s). */
export function receptiveFieldFrames(config: Pick<Ddx7Config, 'dilations' | 'kernelSize'>): number {
  return 1 + config.dilations.reduce((s, d) => s + 2 * (config.kernelSize - 1) * d, 0);
}

/** Reverb taps at 16 kHz (0 when off). */
export function reverbTaps(config: Pick<Ddx7Config, 'reverbSec'>): number {
  return Math.round(config.reverbSec * DDX7_SAMPLE_RATE);
}

interface ConvSpec {
  readonly name: string;
  readonly inCh: number;
  readonly outCh: number;
  readonly k: number;
  readonly d: number;
}

/** The decoder's convolutions in order (the streaming state holds one history per K > 1 entry). */
function convSpecs(config: Ddx7Config, outputs: number): ConvSpec[] {
  const specs: ConvSpec[] = [];
  let inCh = 2;
  config.dilations.forEach((d, i) => {
    specs.push({ name: `block${i}_a`, inCh, outCh: config.channels, k: config.kernelSize, d });
    specs.push({ name: `block${i}_b`, inCh: config.channels, outCh: config.channels, k: config.kernelSize, d });
    if (inCh !== config.channels) specs.push({ name: `block${i}_res`, inCh, outCh: config.channels, k: 1, d: 1 });
    inCh = config.channels;
  });
  specs.push({ name: 'out', inCh, outCh: outputs, k: 1, d: 1 });
  return specs;
}

function checkConfig(config: Ddx7Config): Ddx7Patch {
  const patch = ddx7Patch(config.patch);
  if (!(config.iMax > 0)) throw new Error(`iMax must be positive, got ${config.iMax}`);
  if (!(Number.isInteger(config.channels) && config.channels >= 1)) throw new Error(`channels must be a positive integer, got ${config.channels}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${config.dropout}`);
  if (!(config.reverbSec >= 0 && config.reverbSec <= 4)) throw new Error(`--reverb-sec must be in [0, 4] s, got ${config.reverbSec}`);
  if (config.reverbSec > 0 && reverbTaps(config) < 2) throw new Error(`reverbSec ${config.reverbSec} s is under two taps`);
  const [lo, hi] = config.loudnessRangeDb;
  if (!(hi > lo)) throw new Error(`loudnessRangeDb must be [floor, ceiling] with ceiling > floor, got [${lo}, ${hi}]`);
  return patch;
}

/** Creates a model with fresh weights (Glorot-uniform kernels, zero biases; reverb as in the facts). */
export function createDdx7(config: Ddx7Config): Ddx7Model {
  const patch = checkConfig(config);
  const id = modelCounter++;
  const vars = new Map<string, tf.Variable>();
  let seed = config.seed * 1000;
  const add = (name: string, value: tf.Tensor): void => {
    // tfjs registers variables by a process-wide unique name; the map keeps the short one.
    vars.set(name, tf.variable(value, true, `ddx7_${id}/${name}`));
    value.dispose();
  };
  for (const s of convSpecs(config, operatorCount(patch))) {
    add(`${s.name}/kernel`, tf.initializers.glorotUniform({ seed: seed++ }).apply([s.k, s.inCh, s.outCh]));
    add(`${s.name}/bias`, tf.zeros([s.outCh]));
  }
  const taps = reverbTaps(config);
  if (taps > 0) {
    add('reverb/ir', tf.randomUniform([taps], -1, 1, 'float32', seed++));
    add('reverb/decay', tf.scalar(5));
    add('reverb/wet', tf.scalar(0));
  }
  return { config, patch, vars };
}

/** Frees a model's variables. */
export function disposeDdx7(model: Ddx7Model): void {
  for (const v of model.vars.values()) v.dispose();
}

/** Parameter counts: the decoder's (the paper's "about 400 k") and the reverb's. */
export function parameterCount(model: Ddx7Model): { decoder: number; reverb: number } {
  let decoder = 0;
  let reverb = 0;
  for (const [name, v] of model.vars) {
    if (name.startsWith('reverb/')) reverb += v.size;
    else decoder += v.size;
  }
  return { decoder, reverb };
}

/**
 * Decoder inputs (paper §3.2): f0 as MIDI/127 (0 for f0 ≤ 0) and loudness mapped from
 * `loudnessRangeDb` to [0, 1], both clamped.
 *
 * @param f0Hz Hz per frame
 * @param loudnessDb dB per frame, same length
 * @returns [frames, 2] row-major
 */
export function controlInputs(f0Hz: ArrayLike<number>, loudnessDb: ArrayLike<number>, config: Pick<Ddx7Config, 'loudnessRangeDb'>): Float32Array {
  if (f0Hz.length !== loudnessDb.length) throw new Error(`controlInputs: ${f0Hz.length} f0 frames but ${loudnessDb.length} loudness frames`);
  const [lo, hi] = config.loudnessRangeDb;
  const out = new Float32Array(f0Hz.length * 2);
  for (let i = 0; i < f0Hz.length; i++) {
    const f = f0Hz[i];
    const midi = f > 0 ? 69 + 12 * Math.log2(f / 440) : 0;
    out[2 * i] = Math.min(1, Math.max(0, midi / 127));
    out[2 * i + 1] = Math.min(1, Math.max(0, (loudnessDb[i] - lo) / (hi - lo)));
  }
  return out;
}

/** Everything a stream carries between blocks. Tensors are owned by the state (see {@link disposeDdx7State}). */
export interface Ddx7State {
  /** Past input frames of each K > 1 convolution, [batch, (K − 1)·d, channels], in {@link convSpecs} order. */
  readonly conv: readonly tf.Tensor3D[];
  /** The last frame of output levels, [batch, 1, operators]. */
  readonly lastLevels: tf.Tensor3D;
  /** Oscillator phase and last f0 frame. */
  readonly phase: PhaseState;
  /** The reverb's past dry input, [batch, history]; null without reverb. */
  readonly reverb: tf.Tensor2D | null;
}

/** Frees a stream state's tensors. */
export function disposeDdx7State(state: Ddx7State | null): void {
  if (state === null) return;
  for (const t of state.conv) t.dispose();
  state.lastLevels.dispose();
  state.reverb?.dispose();
}

/** Options of {@link ddx7Forward}. */
export interface Ddx7ForwardOptions {
  /** Dropout on (training). Default false. */
  readonly training?: boolean;
  /**
   * Seed of the dropout masks when training (the k-th dropout of the forward pass uses seed + k);
   * absent: unseeded, so runs differ.
   */
  readonly dropoutSeed?: number;
  /** State after the previous block of the same signals; null/absent at the start. Not disposed here. */
  readonly state?: Ddx7State | null;
  /** Return the state after this block (caller disposes it). Default false. */
  readonly keepState?: boolean;
  /** Prebuilt reverb filter from {@link reverbFilterOf} (inference: built once per stream, not per block). */
  readonly reverbFilter?: tf.Tensor3D;
}

/** Result of {@link ddx7Forward}. */
export interface Ddx7Output {
  /** Audio, [batch, frames·64]. */
  readonly audio: tf.Tensor2D;
  /** Output levels per frame, [batch, frames, operators] (carriers in [0, 1], modulators in [0, I_max] rad). */
  readonly levels: tf.Tensor3D;
  /** The state after this block when `keepState`. */
  readonly state: Ddx7State | null;
}

/**
 * Renders audio from control frames: decoder → levels → upsampling → FM → reverb. Call inside
 * `tf.variableGrads` to train. Tensors returned are the caller's to dispose.
 *
 * @param f0Hz f0 per frame, Hz, [batch, frames] row-major (drives both the decoder and the oscillators)
 * @param inputs decoder inputs from {@link controlInputs}, [batch, frames, 2] row-major
 * @param batch batch size
 */
export function ddx7Forward(model: Ddx7Model, f0Hz: Float32Array, inputs: Float32Array, batch: number, options: Ddx7ForwardOptions = {}): Ddx7Output {
  const frames = f0Hz.length / batch;
  if (!Number.isInteger(frames) || inputs.length !== batch * frames * 2) throw new Error(`ddx7Forward: ${f0Hz.length} f0 values and ${inputs.length} inputs do not make ${batch} rows of [frames, 2]`);
  const { config, patch, vars } = model;
  const prev = options.state ?? null;
  const ph = operatorPhases(f0Hz, batch, patch.ratios, prev?.phase ?? null);
  const nOps = operatorCount(patch);
  const v = (name: string): tf.Variable => {
    const t = vars.get(name);
    if (t === undefined) throw new Error(`ddx7: model has no variable ${name}`);
    return t;
  };
  const tensors: tf.Tensor[] = tf.tidy((): tf.Tensor[] => {
    const newConv: tf.Tensor3D[] = [];
    let convIndex = 0;
    const conv = (x: tf.Tensor3D, s: ConvSpec): tf.Tensor3D => {
      const kernel = v(`${s.name}/kernel`) as tf.Tensor3D;
      let xx = x;
      const past = (s.k - 1) * s.d;
      if (past > 0) {
        const before = prev?.conv[convIndex] ?? tf.zeros([batch, past, s.inCh]);
        xx = tf.concat([before, x], 1);
        newConv.push(tf.slice(xx, [0, frames, 0], [batch, past, s.inCh]));
        convIndex++;
      }
      return tf.add(tf.conv1d(xx, kernel, 1, 'valid', 'NWC', s.d), v(`${s.name}/bias`)) as tf.Tensor3D;
    };
    let dropIndex = 0;
    const drop = (x: tf.Tensor3D): tf.Tensor3D => {
      if (!options.training || config.dropout <= 0) return x;
      const seed = options.dropoutSeed === undefined ? undefined : (options.dropoutSeed + dropIndex++) >>> 0;
      return tf.dropout(x, config.dropout, undefined, seed) as tf.Tensor3D;
    };
    const specs = new Map(convSpecs(config, nOps).map((s) => [s.name, s]));
    const spec = (name: string): ConvSpec => specs.get(name) as ConvSpec;
    let x = tf.tensor3d(inputs, [batch, frames, 2]);
    config.dilations.forEach((_, i) => {
      let h = drop(tf.relu(conv(x, spec(`block${i}_a`))));
      h = drop(tf.relu(conv(h, spec(`block${i}_b`))));
      const res = specs.has(`block${i}_res`) ? conv(x, spec(`block${i}_res`)) : x;
      x = tf.relu(tf.add(h, res)) as tf.Tensor3D;
    });
    const aMax = tf.tensor3d(maxLevels(patch, config.iMax), [1, 1, nOps]);
    const levels = tf.mul(tf.sigmoid(conv(x, spec('out'))), aMax) as tf.Tensor3D;
    const up = upsampleLevels(levels, prev?.lastLevels ?? null);
    const phases = tf.tensor3d(ph.phases, [nOps, batch, frames * DDX7_HOP]);
    let audio = fmSynth(patch, up, phases);
    let reverbHistory: tf.Tensor2D | null = null;
    if (vars.has('reverb/ir')) {
      const r = convolvePolyphase(audio, options.reverbFilter ?? polyphaseFilter(impulseOf(model), REVERB_BLOCK), prev?.reverb ?? null);
      audio = r.y;
      reverbHistory = r.history;
    }
    // Only what is returned survives the tidy: without keepState the state tensors go with it.
    if (!options.keepState) return [audio, levels];
    const lastLevels = tf.slice(levels, [0, frames - 1, 0], [batch, 1, nOps]);
    return [audio, levels, lastLevels, ...newConv, ...(reverbHistory === null ? [] : [reverbHistory])];
  });
  const audio = tensors[0] as tf.Tensor2D;
  const levels = tensors[1] as tf.Tensor3D;
  let state: Ddx7State | null = null;
  if (options.keepState) {
    const nConv = tensors.length - 3 - (vars.has('reverb/ir') ? 1 : 0);
    state = {
      lastLevels: tensors[2] as tf.Tensor3D,
      conv: tensors.slice(3, 3 + nConv) as tf.Tensor3D[],
      phase: ph.state,
      reverb: vars.has('reverb/ir') ? (tensors[3 + nConv] as tf.Tensor2D) : null,
    };
  }
  return { audio, levels, state };
}

function impulseOf(model: Ddx7Model): tf.Tensor1D {
  const v = (name: string): tf.Variable => model.vars.get(name) as tf.Variable;
  return reverbImpulse({ ir: v('reverb/ir') as tf.Tensor1D, decay: v('reverb/decay') as tf.Scalar, wet: v('reverb/wet') as tf.Scalar });
}

/** The model's reverb as a polyphase filter (caller disposes); null without reverb. */
export function reverbFilterOf(model: Ddx7Model): tf.Tensor3D | null {
  if (!model.vars.has('reverb/ir')) return null;
  return tf.tidy(() => polyphaseFilter(impulseOf(model), REVERB_BLOCK));
}

/** Streaming history of the reverb, samples (0 without reverb). */
export function reverbHistorySamples(config: Ddx7Config): number {
  const taps = reverbTaps(config);
  return taps > 0 ? convolveHistoryLength(taps, REVERB_BLOCK) : 0;
}

/** File names inside a DDX7 model folder. */
export const DDX7_FILES = { config: 'ddx7.json', weights: 'weights' } as const;

/** Saves the variables as `<base>.json` + `<base>.bin`. */
export async function saveDdx7Weights(model: Ddx7Model, base: string): Promise<void> {
  const list: NamedTensor[] = [...model.vars].map(([name, tensor]) => ({ name, tensor }));
  await saveNamedTensors(base, list);
}

/**
 * Creates a model for `config` with the weights saved at `base`.
 *
 * @throws Error naming a missing or misshapen variable.
 */
export function loadDdx7Weights(config: Ddx7Config, base: string): Ddx7Model {
  const model = createDdx7(config);
  let saved: Map<string, tf.Tensor>;
  try {
    saved = new Map(loadNamedTensors(base).map((t) => [t.name, t.tensor]));
  } catch (e) {
    // A missing or corrupt weights file must not leak the fresh model's variables.
    disposeDdx7(model);
    throw e;
  }
  try {
    for (const [name, variable] of model.vars) {
      const t = saved.get(name);
      if (t === undefined) throw new Error(`${base}: no weights for ${name}`);
      if (t.shape.join(',') !== variable.shape.join(',')) throw new Error(`${base}: ${name} has shape [${t.shape}], the config needs [${variable.shape}]`);
      variable.assign(t);
    }
  } catch (e) {
    disposeDdx7(model);
    throw e;
  } finally {
    for (const t of saved.values()) t.dispose();
  }
  return model;
}
