/**
 * STFT magnitudes and log-mel spectrograms as spec §5 defines them: periodic Hann window of 2048,
 * hop 512, centred frames with reflect padding of n_fft/2 on each side (librosa's
 * `stft(center=True, pad_mode='reflect')`; note librosa ≥ 0.10 defaults to zero padding, the spec
 * does not), unnormalised |X|, and mel power = Slaney filterbank · |X|² in dB.
 *
 * Layout: spectrograms are row-major [frames, bins] (one frame's bins contiguous), the order in
 * which they are produced; transpose for a [bins, frames] image.
 */
import { RealFftPlan, type RealInput } from '../dsp/fft.ts';
import { hannPeriodic } from '../dsp/window.ts';
import { applyMelFilterbank, melFilterbank, type MelFilterbank } from '../dsp/mel.ts';

/** The analysis configuration. */
export interface SpectrogramConfig {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** FFT and window length, samples, a power of two. */
  readonly nFft: number;
  /** Hop between frame starts, samples. */
  readonly hop: number;
  /** Number of mel bands. */
  readonly nMels: number;
  /** Mel filterbank lower edge, Hz. */
  readonly fMinHz: number;
  /** Mel filterbank upper edge, Hz. */
  readonly fMaxHz: number;
}

/** Spec §5: 16 kHz, window 2048, hop 512, 128 Slaney mel bands over 0–8 kHz. */
export const SPEC_SPECTROGRAM: SpectrogramConfig = Object.freeze({
  sampleRate: 16000,
  nFft: 2048,
  hop: 512,
  nMels: 128,
  fMinHz: 0,
  fMaxHz: 8000,
});

/** Floor on mel power before taking dB (spec §5): −100 dB. */
export const MEL_POWER_FLOOR = 1e-10;

/**
 * Number of centred frames of a signal: 1 + ⌊length / hop⌋ (librosa's count with padding
 * n_fft/2 on each side). 64 000 samples at hop 512 → 126.
 */
export function countFrames(length: number, hop: number): number {
  return 1 + Math.floor(length / hop);
}

/**
 * The reusable state of a spectrogram analysis: FFT plan, window, mel filterbank and a frame
 * buffer. Not re-entrant (one scratch frame); create one per concurrent caller.
 */
export class SpectrogramPlan {
  readonly config: SpectrogramConfig;
  /** Bins per frame, nFft/2 + 1. */
  readonly bins: number;
  readonly fft: RealFftPlan;
  /** Periodic Hann, shape [nFft]. */
  readonly window: Float64Array;
  readonly mel: MelFilterbank;
  private readonly frame: Float64Array;

  constructor(config: SpectrogramConfig = SPEC_SPECTROGRAM) {
    if (!Number.isInteger(config.hop) || config.hop <= 0) throw new Error(`hop must be a positive integer, got ${config.hop}`);
    this.config = Object.freeze({ ...config });
    this.fft = new RealFftPlan(config.nFft);
    this.bins = this.fft.bins;
    this.window = hannPeriodic(config.nFft);
    this.mel = melFilterbank(config);
    this.frame = new Float64Array(config.nFft);
  }

  /**
   * Loads centred frame `t` of `signal` (samples t·hop − nFft/2 … t·hop + nFft/2 − 1 of the
   * reflect-padded signal), windowed, into the scratch frame.
   */
  private loadFrame(signal: RealInput, t: number): Float64Array {
    const n = this.config.nFft;
    const len = signal.length;
    const w = this.window;
    const f = this.frame;
    const first = t * this.config.hop - n / 2;
    if (first >= 0 && first + n <= len) {
      for (let i = 0; i < n; i++) f[i] = signal[first + i] * w[i];
    } else {
      for (let i = 0; i < n; i++) {
        let j = first + i;
        // numpy 'reflect': mirror about the end samples without repeating them (x[−1] = x[1]).
        // One reflection suffices because the padding (n/2) is shorter than the signal.
        if (j < 0) j = -j;
        else if (j >= len) j = 2 * (len - 1) - j;
        f[i] = signal[j] * w[i];
      }
    }
    return f;
  }

  private checkSignal(signal: RealInput): void {
    // Reflect padding needs more than n/2 samples to mirror.
    if (signal.length <= this.config.nFft / 2) {
      throw new Error(`signal has ${signal.length} samples, needs more than ${this.config.nFft / 2} for reflect padding`);
    }
  }

  /**
   * Magnitude spectrum |X_t[k]| of centred frame t.
   *
   * @param signal samples, shape [length], length > nFft/2 (not mutated).
   * @param t frame index, 0 … countFrames(length, hop) − 1.
   * @param out caller-owned, length ≥ bins; linear amplitude, unnormalised.
   */
  frameMagnitude(signal: RealInput, t: number, out: Float64Array): Float64Array {
    const n = this.config.nFft;
    const first = t * this.config.hop - n / 2;
    // Interior frames are windowed inside the FFT's load; only the edges need the padded copy.
    if (first >= 0 && first + n <= signal.length) return this.fft.windowedMagnitude(signal, first, this.window, out);
    return this.fft.magnitude(this.loadFrame(signal, t), out);
  }

  /**
   * STFT magnitude of a whole signal.
   *
   * @param signal samples, shape [length], length > nFft/2 (not mutated).
   * @param out optional caller-owned buffer of frames × bins.
   * @returns row-major [frames, bins], frames = countFrames(length, hop); for spec signals
   *   [126, 1025]. Linear amplitude, unnormalised (a full-scale sine peaks near nFft/4 = 512).
   */
  stftMagnitude(signal: RealInput, out?: Float64Array): Float64Array {
    this.checkSignal(signal);
    const frames = countFrames(signal.length, this.config.hop);
    const bins = this.bins;
    const mag = out ?? new Float64Array(frames * bins);
    if (mag.length !== frames * bins) throw new Error(`out has length ${mag.length}, expected ${frames * bins}`);
    for (let t = 0; t < frames; t++) this.frameMagnitude(signal, t, mag.subarray(t * bins, (t + 1) * bins));
    return mag;
  }

  /**
   * Log-mel spectrogram from STFT magnitudes: 10·log10(max(Σ_k W[m,k]·|X_t[k]|², 1e-10)).
   *
   * @param magnitude row-major [frames, bins], as `stftMagnitude` returns.
   * @param out optional caller-owned buffer of frames × nMels.
   * @returns row-major [frames, nMels], dB re 1 (unreferenced), ≥ −100.
   */
  logMelFromMagnitude(magnitude: Float64Array, out?: Float64Array): Float64Array {
    const bins = this.bins;
    const nMels = this.config.nMels;
    if (magnitude.length % bins !== 0) throw new Error(`magnitude length ${magnitude.length} is not a multiple of ${bins} bins`);
    const frames = magnitude.length / bins;
    const db = out ?? new Float64Array(frames * nMels);
    if (db.length !== frames * nMels) throw new Error(`out has length ${db.length}, expected ${frames * nMels}`);
    const power = new Float64Array(bins);
    const melPower = new Float64Array(nMels);
    for (let t = 0; t < frames; t++) {
      for (let k = 0; k < bins; k++) {
        const a = magnitude[t * bins + k];
        power[k] = a * a;
      }
      applyMelFilterbank(this.mel, power, melPower);
      for (let m = 0; m < nMels; m++) db[t * nMels + m] = powerToDb(melPower[m]);
    }
    return db;
  }

  /**
   * Log-mel spectrogram of a signal (STFT magnitude → power → mel → dB).
   *
   * @param signal samples, shape [length], length > nFft/2 (not mutated).
   * @returns row-major [frames, nMels], dB, ≥ −100.
   */
  logMel(signal: RealInput): Float64Array {
    return this.logMelFromMagnitude(this.stftMagnitude(signal));
  }
}

/**
 * Power to decibels with the spec's floor: 10·log10(max(p, 1e-10)).
 *
 * @param power squared linear amplitude, ≥ 0.
 * @returns dB re 1, ≥ −100.
 */
export function powerToDb(power: number): number {
  return 10 * Math.log10(power > MEL_POWER_FLOOR ? power : MEL_POWER_FLOOR);
}
