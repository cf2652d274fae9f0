/**
 * Rendering one patch (spec §3): six phase-modulation operators routed by an algorithm, mixed,
 * shaped by the linear ADSR, at the render rate (48 kHz by default).
 *
 * Two renderers share one definition of the voice:
 * - `renderVoice`, the production path: one tight loop per operator over the whole note (an
 *   operator's output depends only on its inputs' outputs at the same sample, so each loop is
 *   independent and JIT-friendly), sine by table lookup, phase accumulated in float64.
 * - `renderVoiceReference`, sample by sample with `Math.sin` and phases computed in closed form:
 *   slow, obviously correct, the truth the fast path is tested against. It also serves the
 *   algorithms whose feedback runs through a loop of operators (DX7 4 and 6), which cannot be
 *   rendered one operator at a time.
 */
import { SINE_TABLE, SINE_TABLE_MASK, SINE_TABLE_OFFSET, SINE_TABLE_SIZE, TABLE_UNITS_PER_RAD, tableSin } from '../dsp/sine-table.ts';
import { type Algorithm, OPERATOR_COUNT } from './algorithms.ts';
import { adsrLevel, applyAdsrInPlace } from './envelope.ts';
import { MODULATOR_COUNT, type Patch } from './params.ts';

/** How a voice is rendered (not part of the patch). */
export interface RenderOptions {
  /** Render rate, Hz. */
  readonly sampleRate: number;
  /** Note length, s (note-on at 0). */
  readonly durationSec: number;
  /** Note-off time, s. */
  readonly noteOffSec: number;
  /** DX7 feedback amount, integer 0 … 7 (0: none). Only algorithms with a feedback edge accept > 0. */
  readonly feedback: number;
}

/** The paper's render: 48 kHz, 4 s, note-off at 3 s (NSynth's layout), no feedback. */
export const PAPER_RENDER: RenderOptions = Object.freeze({ sampleRate: 48000, durationSec: 4, noteOffSec: 3, feedback: 0 });

/**
 * Peak phase deviation, in radians, that DX7 feedback amount `amount` (0…7) applies. Follows the
 * DX7's hardware scaling as documented by its emulators: each step doubles the depth and amount 7
 * reaches π radians for a full-scale fed-back value.
 */
export function feedbackDepthRad(amount: number): number {
  if (!Number.isInteger(amount) || amount < 0 || amount > 7) throw new Error(`feedback amount must be an integer 0 … 7, got ${amount}`);
  return amount === 0 ? 0 : Math.PI * Math.pow(2, amount - 7);
}

/** Operator frequencies, Hz, indexed by operator (0 = carrier, k = modulator k). Shape [6]. */
export function operatorFrequencies(patch: Patch): Float64Array {
  const f = new Float64Array(OPERATOR_COUNT);
  f[0] = patch.carrierHz;
  for (let k = 1; k <= MODULATOR_COUNT; k++) f[k] = patch.ratios[k - 1] * patch.carrierHz;
  return f;
}

/**
 * Operator output amplitudes: 1.0 for a carrier, β (radians) for a modulator (spec §2). In a DX7
 * routing where a modulator slot is a carrier, its β is unused. Shape [6].
 */
export function operatorAmplitudes(patch: Patch, alg: Algorithm): Float64Array {
  const a = new Float64Array(OPERATOR_COUNT);
  for (let op = 0; op < OPERATOR_COUNT; op++) {
    a[op] = alg.carriers.includes(op) ? 1 : op === 0 ? 1 : patch.betas[op - 1];
  }
  return a;
}

/** Number of samples a render of `opts` produces. */
export function renderLength(opts: RenderOptions): number {
  return Math.round(opts.durationSec * opts.sampleRate);
}

function checkOptions(alg: Algorithm, opts: RenderOptions): void {
  feedbackDepthRad(opts.feedback);
  if (opts.feedback > 0 && !alg.feedback) throw new Error(`algorithm ${alg.name} has no feedback loop; use feedback 0`);
  if (!(opts.sampleRate > 0) || !(opts.durationSec > 0)) throw new Error('sample rate and duration must be positive');
}

/** Reusable buffers for `renderVoice`, so that a worker rendering thousands of patches allocates once. */
export class RenderScratch {
  /** Per-operator output buffers, each [length]. */
  readonly ops: Float32Array[];
  /** Sum of several modulation inputs, [length]. */
  readonly sum: Float32Array;
  constructor(readonly length: number) {
    this.ops = Array.from({ length: OPERATOR_COUNT }, () => new Float32Array(length));
    this.sum = new Float32Array(length);
  }
}

/**
 * Renders one voice at `opts.sampleRate`: operators, carrier mix (divided by the number of
 * carriers so that the voice stays within [-1, 1]) and ADSR.
 *
 * @param out optional output buffer of `renderLength(opts)` samples.
 * @param scratch optional reusable buffers of the same length.
 * @returns the voice, shape [renderLength(opts)], float in [-1, 1].
 */
export function renderVoice(patch: Patch, alg: Algorithm, opts: RenderOptions, out?: Float32Array, scratch?: RenderScratch): Float32Array {
  const mix = renderOscillators(patch, alg, opts, out, scratch);
  applyAdsrInPlace(mix, patch, opts.sampleRate, opts.noteOffSec);
  return mix;
}

/**
 * The voice before its envelope: operators and carrier mix only (for tests against closed forms,
 * and for callers that shape the amplitude themselves).
 *
 * @returns shape [renderLength(opts)], float in [-1, 1].
 */
export function renderOscillators(patch: Patch, alg: Algorithm, opts: RenderOptions, out?: Float32Array, scratch?: RenderScratch): Float32Array {
  checkOptions(alg, opts);
  const n = renderLength(opts);
  const mix = out ?? new Float32Array(n);
  if (mix.length !== n) throw new Error(`output buffer has ${mix.length} samples, expected ${n}`);
  if (alg.feedback && opts.feedback > 0 && alg.feedback.from !== alg.feedback.into) {
    const voice = renderVoiceReference(patch, alg, opts, { useTable: true, envelope: false });
    for (let i = 0; i < n; i++) mix[i] = voice[i];
    return mix;
  }
  const work = scratch && scratch.length === n ? scratch : new RenderScratch(n);
  const freqs = operatorFrequencies(patch);
  const amps = operatorAmplitudes(patch, alg);
  const carrierGain = 1 / alg.carriers.length;
  mix.fill(0);
  for (const op of alg.order) {
    const isCarrier = alg.carriers.includes(op);
    // Modulators store their output in sine-table units (β · units/rad), so that a carrier adds
    // its inputs to its phase without a multiply; carriers add gain · sin into the mix.
    const scale = isCarrier ? carrierGain : amps[op] * TABLE_UNITS_PER_RAD;
    const dst = isCarrier ? mix : work.ops[op];
    const ins = alg.inputs[op];
    let mod: Float32Array | null = null;
    if (ins.length === 1) mod = work.ops[ins[0]];
    else if (ins.length > 1) {
      mod = work.sum;
      mod.set(work.ops[ins[0]]);
      for (let k = 1; k < ins.length; k++) {
        const src = work.ops[ins[k]];
        for (let i = 0; i < n; i++) mod[i] += src[i];
      }
    }
    const fbDepth = alg.feedback && alg.feedback.from === op ? feedbackDepthRad(opts.feedback) : 0;
    operatorLoop(dst, isCarrier, mod, freqs[op], opts.sampleRate, scale, fbDepth * TABLE_UNITS_PER_RAD);
  }
  return mix;
}

/**
 * One operator over the whole note. Phase in table units, float64, wrapped every sample.
 *
 * @param dst output [n]: overwritten, or accumulated into when `accumulate` (carriers share the mix).
 * @param mod phase modulation in table units [n], or null.
 * @param fbUnits self-feedback depth in table units per unit of fed-back sine (0: none).
 */
function operatorLoop(
  dst: Float32Array,
  accumulate: boolean,
  mod: Float32Array | null,
  freqHz: number,
  sampleRate: number,
  scale: number,
  fbUnits: number,
): void {
  const n = dst.length;
  const T = SINE_TABLE;
  const N = SINE_TABLE_SIZE;
  const M = SINE_TABLE_MASK;
  const OFF = SINE_TABLE_OFFSET;
  // The increment is wrapped to one cycle first: a frequency above the render rate aliases
  // exactly as the sampled continuous-time operator would.
  let inc = ((freqHz / sampleRate) % 1) * N;
  if (inc < 0) inc += N;
  let ph = 0;
  if (fbUnits !== 0) {
    // DX7 feedback: the operator's own last two (unit) outputs, averaged, delayed by one sample.
    const half = 0.5 * fbUnits;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = ph + (mod ? mod[i] : 0) + half * (s1 + s2) + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      const s = a + (x - k) * (T[j + 1] - a);
      s2 = s1;
      s1 = s;
      dst[i] = accumulate ? dst[i] + scale * s : scale * s;
      ph += inc;
      if (ph >= N) ph -= N;
    }
    return;
  }
  // The four branch-free variants below differ only in whether a modulation input is read and
  // whether the output accumulates; splitting them keeps the inner loop minimal.
  if (mod === null && !accumulate) {
    for (let i = 0; i < n; i++) {
      const x = ph + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] = scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else if (mod === null) {
    for (let i = 0; i < n; i++) {
      const x = ph + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] += scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else if (!accumulate) {
    for (let i = 0; i < n; i++) {
      const x = ph + mod[i] + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] = scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = ph + mod[i] + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] += scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  }
}

/** Options of the reference renderer. */
export interface ReferenceRenderOptions {
  /** Sine from the table (the production path for loop-feedback algorithms) instead of `Math.sin`. */
  readonly useTable?: boolean;
  /** Apply the ADSR (default true). */
  readonly envelope?: boolean;
}

/**
 * Reference renderer: sample by sample, phases in closed form (2π f n / fs, reduced exactly per
 * sample), float64 throughout. With `Math.sin` (the default) it is the truth the block renderer
 * is tested against.
 *
 * @returns the voice, shape [renderLength(opts)], float64.
 */
export function renderVoiceReference(patch: Patch, alg: Algorithm, opts: RenderOptions, ref: ReferenceRenderOptions = {}): Float64Array {
  const useTable = ref.useTable ?? false;
  checkOptions(alg, opts);
  const n = renderLength(opts);
  const freqs = operatorFrequencies(patch);
  const amps = operatorAmplitudes(patch, alg);
  const fbRad = feedbackDepthRad(opts.feedback);
  const fb = alg.feedback && fbRad > 0 ? alg.feedback : null;
  const sin = useTable ? (rad: number) => tableSin(rad * TABLE_UNITS_PER_RAD) : Math.sin;
  const unit = new Float64Array(OPERATOR_COUNT); // this sample's unit sine per operator
  const prev1 = new Float64Array(OPERATOR_COUNT); // last sample's
  const prev2 = new Float64Array(OPERATOR_COUNT); // the one before
  const out = new Float64Array(n);
  const cycles = Array.from(freqs, (f) => f / opts.sampleRate);
  const carrierGain = 1 / alg.carriers.length;
  for (let i = 0; i < n; i++) {
    let y = 0;
    for (const op of alg.order) {
      const c = cycles[op] * i;
      let phase = 2 * Math.PI * (c - Math.floor(c));
      for (const src of alg.inputs[op]) phase += amps[src] * unit[src];
      if (fb && fb.into === op) phase += fbRad * 0.5 * (prev1[fb.from] + prev2[fb.from]);
      unit[op] = sin(phase);
    }
    for (const op of alg.carriers) y += carrierGain * unit[op];
    out[i] = y;
    prev2.set(prev1);
    prev1.set(unit);
  }
  if (ref.envelope ?? true) {
    for (let i = 0; i < n; i++) out[i] *= adsrLevel(patch, i / opts.sampleRate, opts.noteOffSec);
  }
  return out;
}
