/**
 * Rendering one patch (spec §3): six phase-modulation operators routed by an algorithm, mixed,
 * shaped by the linear ADSR, at the render rate (48 kHz by default).
 *
 * Two renderers share one definition of the voice:
 * - `renderVoice`, the production path: one kernel pass per operator over the whole note (an
 *   operator's output depends only on its inputs' outputs at the same sample, so each pass is
 *   independent and vectorises across time): `dsp/fm-kernel.ts`, WebAssembly SIMD where
 *   available (polynomial sine, 64-bit fixed-point phase), else the sine table in JS. DX7
 *   self-feedback is sequential by nature and always runs in JS.
 * - `renderVoiceReference`, sample by sample with `Math.sin` and phases computed in closed form:
 *   slow, obviously correct, the truth the fast path is tested against. It also serves the
 *   algorithms whose feedback runs through a loop of operators (DX7 4 and 6), which cannot be
 *   rendered one operator at a time.
 */
import { defaultFmKernel, type FmBuffer, type FmKernel, MOD_UNITS_PER_RAD } from '../dsp/fm-kernel.ts';
import { TABLE_UNITS_PER_RAD, tableSin } from '../dsp/sine-table.ts';
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

/**
 * Reusable buffers for `renderVoice`, so that a worker rendering thousands of patches allocates
 * once. They live in an operator kernel's memory (wasm memory for the SIMD kernel), where the
 * kernel reads and writes them without copies. Call `dispose()` when done; a scratch that is
 * garbage-collected undisposed is released by a finaliser.
 */
export class RenderScratch {
  /** The kernel that owns the buffers and runs the operator passes. */
  readonly kernel: FmKernel;
  /** Per-operator output buffers (modulators: phase offsets in half-cycles), each [length]. */
  readonly opBuffers: readonly FmBuffer[];
  /** The carrier mix, [length]. */
  readonly mixBuffer: FmBuffer;
  private disposed = false;
  /**
   * @param length samples per buffer.
   * @param kernel operator kernel (default: the process-wide one, WebAssembly SIMD if available).
   */
  constructor(
    readonly length: number,
    kernel: FmKernel = defaultFmKernel(),
  ) {
    this.kernel = kernel;
    this.opBuffers = Object.freeze(Array.from({ length: OPERATOR_COUNT }, () => kernel.alloc(length)));
    this.mixBuffer = kernel.alloc(length);
    scratchFinalizer.register(this, { kernel, buffers: [...this.opBuffers, this.mixBuffer] }, this);
  }
  /**
   * Views of the per-operator buffers, each [length]. Valid until the kernel next allocates
   * (its memory may grow); take fresh ones after.
   */
  get ops(): Float32Array[] {
    this.check();
    return this.opBuffers.map((b) => this.kernel.view(b));
  }
  /** View of the carrier mix, [length]; same validity as `ops`. */
  get mix(): Float32Array {
    this.check();
    return this.kernel.view(this.mixBuffer);
  }
  /** Returns the buffers to the kernel. The scratch must not be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    scratchFinalizer.unregister(this);
    for (const b of this.opBuffers) this.kernel.free(b);
    this.kernel.free(this.mixBuffer);
  }
  /** @internal */
  check(): void {
    if (this.disposed) throw new Error('RenderScratch used after dispose()');
  }
}

const scratchFinalizer = new FinalizationRegistry<{ kernel: FmKernel; buffers: FmBuffer[] }>(({ kernel, buffers }) => {
  for (const b of buffers) kernel.free(b);
});

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
 * @param out optional output buffer of `renderLength(opts)` samples.
 * @param scratch optional reusable buffers of the same length (otherwise temporary ones are
 *   taken from the default kernel and returned before this returns).
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
  const temporary = !(scratch && scratch.length === n);
  const work = temporary ? new RenderScratch(n) : (scratch as RenderScratch);
  work.check();
  try {
    const kernel = work.kernel;
    const freqs = operatorFrequencies(patch);
    const amps = operatorAmplitudes(patch, alg);
    const carrierGain = 1 / alg.carriers.length;
    let mixWritten = false;
    for (const op of alg.order) {
      const isCarrier = alg.carriers.includes(op);
      // Modulators store their output as a phase offset in the kernel's units (β · units/rad),
      // so that whatever they modulate adds its inputs to its phase without a multiply; carriers
      // add gain · sin into the mix, the first one overwriting it (no separate clearing pass).
      const scale = isCarrier ? carrierGain : amps[op] * MOD_UNITS_PER_RAD;
      const dst = isCarrier ? work.mixBuffer : work.opBuffers[op];
      const mods = alg.inputs[op].map((src) => work.opBuffers[src]);
      const fbRad = alg.feedback && alg.feedback.from === op ? feedbackDepthRad(opts.feedback) : 0;
      kernel.operator(dst, isCarrier && mixWritten, mods, freqs[op] / opts.sampleRate, scale, fbRad);
      if (isCarrier) mixWritten = true;
    }
    mix.set(kernel.view(work.mixBuffer));
  } finally {
    if (temporary) work.dispose();
  }
  return mix;
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
