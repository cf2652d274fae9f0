/**
 * The four spectral distances of spec §5 between a reference x and a candidate y (16 kHz):
 * FFT, STFT, log-mel and normalized log-mel, all Euclidean, all after the same preparation
 * (cut/zero-pad to 64 000 samples, zero mean, peak 1) so that loudness does not masquerade as
 * timbre.
 *
 * The evaluator compares each note with several candidates (resynthesis and two baselines), so
 * the reference's spectra are computed once (`DistanceCalculator.prepareReference`) and each
 * candidate is streamed frame by frame against them without storing its spectrogram.
 */
import { RealFftPlan, type RealInput } from '../dsp/fft.ts';
import { applyMelFilterbank } from '../dsp/mel.ts';
import { countFrames, powerToDb, SpectrogramPlan, SPEC_SPECTROGRAM, type SpectrogramConfig } from './spectra.ts';

/** Spec §5: every signal is cut or zero-padded to this many samples (4 s at 16 kHz). */
export const SIGNAL_SAMPLES = 64000;
/** Spec §5: the FFT distance zero-pads the prepared signal to this size (32 769 bins). */
export const FFT_DISTANCE_SIZE = 65536;

/** The four distances between two prepared signals. All ≥ 0; 0 iff the spectra agree. */
export interface Distances {
  /** L2 norm of the difference of |rfft| (65 536 points, 32 769 bins); linear amplitude. */
  readonly fft: number;
  /** Frobenius norm of the difference of STFT magnitudes, [126, 1025]; linear amplitude. */
  readonly stft: number;
  /** Frobenius norm of the difference of log-mel spectrograms, [126, 128]; dB. */
  readonly logMel: number;
  /** `logMel` divided by the number of cells (128 × 126 = 16 128), the paper's normalisation; dB. */
  readonly logMelNormalized: number;
}

/** Names of the four distances, in report order. */
export const DISTANCE_NAMES: readonly (keyof Distances)[] = Object.freeze(['fft', 'stft', 'logMel', 'logMelNormalized']);

/**
 * Spec §5 preparation: cut or zero-pad to `length` samples, subtract the mean (over those
 * `length` samples), divide by the peak |x|. An all-zero (or constant) signal stays all zero
 * rather than dividing by zero: it has no timbre to normalise.
 *
 * @param x samples, any length (not mutated).
 * @param out optional caller-owned buffer of `length` samples.
 * @param length target length, samples; default 64 000.
 * @returns shape [length], zero mean, max |x| = 1 (or all zero).
 */
export function prepareSignal(x: RealInput, out?: Float64Array, length = SIGNAL_SAMPLES): Float64Array {
  if (!Number.isInteger(length) || length <= 0) throw new Error(`length must be a positive integer, got ${length}`);
  const y = out ?? new Float64Array(length);
  if (y.length !== length) throw new Error(`out has length ${y.length}, expected ${length}`);
  const n = Math.min(x.length, length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) throw new Error(`sample ${i} is not finite (${v})`);
    y[i] = v;
    sum += v;
  }
  y.fill(0, n);
  const mean = sum / length;
  let peak = 0;
  for (let i = 0; i < length; i++) {
    const v = y[i] - mean;
    y[i] = v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  if (peak > 0) {
    const g = 1 / peak;
    for (let i = 0; i < length; i++) y[i] *= g;
  }
  return y;
}

/** A reference signal prepared once and its spectra, for comparison with many candidates. */
export interface PreparedReference {
  /** The prepared signal, shape [64 000], zero mean, peak 1. */
  readonly signal: Float64Array;
  /** |rfft| zero-padded to 65 536, shape [32 769]; linear amplitude. */
  readonly fftMagnitude: Float64Array;
  /** STFT magnitude, row-major [126, 1025]; linear amplitude. */
  readonly stftMagnitude: Float64Array;
  /** Log-mel spectrogram, row-major [126, 128]; dB, ≥ −100. */
  readonly logMelDb: Float64Array;
}

/** Configuration of the distances (spec §5 by default). */
export interface DistanceConfig {
  /** Length every signal is cut or zero-padded to, samples. */
  readonly signalSamples: number;
  /** Zero-padded size of the whole-signal FFT, a power of two ≥ signalSamples. */
  readonly fftSize: number;
  /** The STFT and mel analysis. */
  readonly spectrogram: SpectrogramConfig;
}

/** Spec §5's distances. */
export const SPEC_DISTANCES: DistanceConfig = Object.freeze({
  signalSamples: SIGNAL_SAMPLES,
  fftSize: FFT_DISTANCE_SIZE,
  spectrogram: SPEC_SPECTROGRAM,
});

/** Frames between two calls of `compareUnless`'s abandon test (of 126). */
export const ABANDON_CHECK_FRAMES = 8;

/**
 * Computes spec §5's distances. Holds FFT plans, window, mel filterbank and scratch buffers, so
 * create one per worker and reuse it; it is not re-entrant.
 */
export class DistanceCalculator {
  readonly config: DistanceConfig;
  /** Frames per STFT (126 for spec signals). */
  readonly frames: number;
  private readonly spectrogram: SpectrogramPlan;
  private readonly wholeFft: RealFftPlan;
  // Scratch for candidates: prepared signal, whole-signal magnitude, one frame's magnitude and mel power.
  private readonly candSignal: Float64Array;
  private readonly candFftMag: Float64Array;
  private readonly frameMag: Float64Array;
  private readonly framePower: Float64Array;
  private readonly frameMel: Float64Array;

  constructor(config: DistanceConfig = SPEC_DISTANCES) {
    if (config.fftSize < config.signalSamples) throw new Error(`fftSize ${config.fftSize} is shorter than the signal (${config.signalSamples})`);
    this.config = Object.freeze({ ...config });
    this.spectrogram = new SpectrogramPlan(config.spectrogram);
    this.wholeFft = new RealFftPlan(config.fftSize);
    this.frames = countFrames(config.signalSamples, config.spectrogram.hop);
    this.candSignal = new Float64Array(config.signalSamples);
    this.candFftMag = new Float64Array(this.wholeFft.bins);
    this.frameMag = new Float64Array(this.spectrogram.bins);
    this.framePower = new Float64Array(this.spectrogram.bins);
    this.frameMel = new Float64Array(config.spectrogram.nMels);
  }

  /**
   * Prepares a reference signal and computes all its spectra.
   *
   * @param x raw reference samples, 16 kHz, any length (cut/padded to 64 000; not mutated).
   */
  prepareReference(x: RealInput): PreparedReference {
    const signal = prepareSignal(x, undefined, this.config.signalSamples);
    const fftMagnitude = this.wholeFft.magnitude(signal, new Float64Array(this.wholeFft.bins));
    const stftMagnitude = this.spectrogram.stftMagnitude(signal);
    const logMelDb = this.spectrogram.logMelFromMagnitude(stftMagnitude);
    return { signal, fftMagnitude, stftMagnitude, logMelDb };
  }

  /**
   * The four distances between a prepared reference and a raw candidate.
   *
   * @param reference from `prepareReference` (of this calculator's configuration).
   * @param candidate raw candidate samples, 16 kHz, any length (prepared here; not mutated).
   */
  compare(reference: PreparedReference, candidate: RealInput): Distances {
    return this.compareUnless(reference, candidate, null) as Distances;
  }

  /**
   * {@link compare}, abandoned early: `abandon` sees the running sums of squared differences
   * (whole-signal FFT, STFT, log-mel in dB², each only growing) after the FFT part and after every
   * {@link ABANDON_CHECK_FRAMES} frames, and a `true` stops the work. For a search that only needs
   * to know whether a candidate beats its best: partial sums bound the final distances from below.
   * When not abandoned, the result is exactly `compare`'s (same arithmetic, same order).
   *
   * @returns the distances, or null if abandoned.
   */
  compareUnless(reference: PreparedReference, candidate: RealInput, abandon: ((fftSq: number, stftSq: number, melSq: number) => boolean) | null): Distances | null {
    const cfg = this.config;
    const bins = this.spectrogram.bins;
    const nMels = cfg.spectrogram.nMels;
    const frames = this.frames;
    if (reference.stftMagnitude.length !== frames * bins || reference.logMelDb.length !== frames * nMels) {
      throw new Error('reference was prepared with a different configuration');
    }
    const y = prepareSignal(candidate, this.candSignal, cfg.signalSamples);

    const mag = this.wholeFft.magnitude(y, this.candFftMag);
    const refMag = reference.fftMagnitude;
    let fftSq = 0;
    for (let k = 0; k < mag.length; k++) {
      const d = mag[k] - refMag[k];
      fftSq += d * d;
    }
    if (abandon?.(fftSq, 0, 0)) return null;

    const frameMag = this.frameMag;
    const power = this.framePower;
    const mel = this.frameMel;
    const refStft = reference.stftMagnitude;
    const refMel = reference.logMelDb;
    let stftSq = 0;
    let melSq = 0;
    for (let t = 0; t < frames; t++) {
      this.spectrogram.frameMagnitude(y, t, frameMag);
      const row = t * bins;
      for (let k = 0; k < bins; k++) {
        const a = frameMag[k];
        const d = a - refStft[row + k];
        stftSq += d * d;
        power[k] = a * a;
      }
      applyMelFilterbank(this.spectrogram.mel, power, mel);
      const melRow = t * nMels;
      for (let m = 0; m < nMels; m++) {
        const d = powerToDb(mel[m]) - refMel[melRow + m];
        melSq += d * d;
      }
      if (abandon && t % ABANDON_CHECK_FRAMES === ABANDON_CHECK_FRAMES - 1 && t < frames - 1 && abandon(fftSq, stftSq, melSq)) return null;
    }
    return this.finish(fftSq, stftSq, melSq);
  }

  /**
   * The four distances between two prepared signals: for a candidate that meets many references
   * (the sine-440 baseline is the same signal for every note), whose spectra are computed once.
   * Gives exactly what `compare(reference, candidate's raw samples)` gives (the same arithmetic
   * in the same order), without an FFT.
   *
   * @param reference, candidate from `prepareReference` of this calculator's configuration.
   */
  comparePrepared(reference: PreparedReference, candidate: PreparedReference): Distances {
    const frames = this.frames;
    const bins = this.spectrogram.bins;
    const nMels = this.config.spectrogram.nMels;
    for (const p of [reference, candidate]) {
      if (p.fftMagnitude.length !== this.wholeFft.bins || p.stftMagnitude.length !== frames * bins || p.logMelDb.length !== frames * nMels) {
        throw new Error('signal was prepared with a different configuration');
      }
    }
    const sumSq = (a: Float64Array, b: Float64Array): number => {
      let s = 0;
      for (let k = 0; k < a.length; k++) {
        const d = a[k] - b[k];
        s += d * d;
      }
      return s;
    };
    return this.finish(sumSq(candidate.fftMagnitude, reference.fftMagnitude), sumSq(candidate.stftMagnitude, reference.stftMagnitude), sumSq(candidate.logMelDb, reference.logMelDb));
  }

  private finish(fftSq: number, stftSq: number, melSq: number): Distances {
    const logMel = Math.sqrt(melSq);
    return {
      fft: Math.sqrt(fftSq),
      stft: Math.sqrt(stftSq),
      logMel,
      logMelNormalized: logMel / (this.frames * this.config.spectrogram.nMels),
    };
  }
}

/**
 * One-shot convenience: the four distances between a reference and a candidate. Builds its own
 * plans (~1 ms); when comparing several candidates with one reference, use `DistanceCalculator`.
 *
 * @param reference raw reference samples, 16 kHz (not mutated).
 * @param candidate raw candidate samples, 16 kHz (not mutated).
 */
export function computeDistances(reference: RealInput, candidate: RealInput, config: DistanceConfig = SPEC_DISTANCES): Distances {
  const calc = new DistanceCalculator(config);
  return calc.compare(calc.prepareReference(reference), candidate);
}
