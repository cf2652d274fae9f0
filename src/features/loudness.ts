/**
 * A-weighted loudness at the DDX7 control rate, as DDX7's `calc_loudness` (copied from ddsp
 * 0.x) computes it: STFT with n_fft 2048 (periodic Hann, unnormalised |X|), hop 64; per bin
 * 20·log10|X| + A(f) − 20.7 dB, floored at −80 dB; then the mean over all n_fft/2 + 1 bins.
 *
 * Framing is the pitch tracker's (`countControlFrames`): frame t centred on sample t·64,
 * 1 + ⌈n/64⌉ frames, zero padding beyond the ends, so loudness[t] and f0[t] describe the same
 * instant.
 *
 * Note the per-bin floor: bins below −80 dB count as −80, so the mean is compressed for sparse
 * spectra. A pure sine 20 dB quieter loses far less than 20 dB of this loudness (most bins sit on
 * the floor either way), while a broadband sound loses ≈ 20 dB. Newer ddsp averages A-weighted
 * power first and takes dB after; that variant is available as `averaging: 'power'` (a gain of
 * g dB then shifts it by exactly g dB until the floor), but DDX7's decoder was trained on 'db'.
 */
import { RealFftPlan, type RealInput } from '../dsp/fft.ts';
import { hannPeriodic } from '../dsp/window.ts';
import { countControlFrames } from './pitch.ts';

/** Loudness analysis configuration. */
export interface LoudnessConfig {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** FFT and window length, samples, a power of two. */
  readonly nFft: number;
  /** Hop between frame centres, samples. */
  readonly hop: number;
  /** Reference subtracted from every bin, dB (ddsp: 20.7, "white noise of amplitude 1"). */
  readonly refDb: number;
  /** Dynamic range: values are floored at −rangeDb, dB. */
  readonly rangeDb: number;
  /**
   * 'db': DDX7 / ddsp 0.x, mean over bins of floored per-bin dB. 'power': ddsp ≥ 1, dB of the
   * mean A-weighted power, then reference and floor.
   */
  readonly averaging: 'db' | 'power';
}

/** DDX7's settings (facts: n_fft 2048, hop 64 at 16 kHz, −20.7 dB, floor −80 dB). */
export const DDX7_LOUDNESS: LoudnessConfig = Object.freeze({
  sampleRate: 16000,
  nFft: 2048,
  hop: 64,
  refDb: 20.7,
  rangeDb: 80,
  averaging: 'db',
});

/** librosa's `A_weighting(min_db=-80)` floor, which ddsp inherits: A(0 Hz) is −∞ otherwise. */
export const A_WEIGHTING_FLOOR_DB = -80;

/**
 * A-weighting gain (IEC 61672-1:2013, eq. E.6 with A1000 = 2.00 dB), the formula librosa uses:
 * A(f) = 20·log10(12194²·f⁴ / ((f² + 20.6²)·√((f² + 107.7²)(f² + 737.9²))·(f² + 12194²))) + 2.00.
 *
 * @param frequencyHz Hz, ≥ 0.
 * @returns dB; 0 at 1 kHz, −19.1 at 100 Hz, −∞ at 0 Hz (unfloored; see A_WEIGHTING_FLOOR_DB).
 */
export function aWeightingDb(frequencyHz: number): number {
  const f2 = frequencyHz * frequencyHz;
  const c0 = 12194.217 ** 2;
  const c1 = 20.598997 ** 2;
  const c2 = 107.65265 ** 2;
  const c3 = 737.86223 ** 2;
  return (
    2.0 +
    20 *
      (Math.log10(c0) +
        2 * Math.log10(f2) -
        Math.log10(f2 + c0) -
        Math.log10(f2 + c1) -
        0.5 * Math.log10(f2 + c2) -
        0.5 * Math.log10(f2 + c3))
  );
}

/**
 * Loudness as DDX7's decoder takes it (ddsp's `scale_db`): dB/rangeDb + 1, so −80 … 0 dB ↦ 0 … 1.
 * Values above 0 dB (loud broadband sounds can reach a few dB) map above 1 and are kept, as in
 * DDX7; clip downstream if a strict [0, 1] is needed.
 *
 * @param loudnessDb per-frame loudness, dB, ≥ −rangeDb; shape [frames] (not mutated).
 * @param rangeDb the floor's magnitude, dB (80).
 * @param out optional caller-owned buffer, shape [frames].
 * @returns shape [frames].
 */
export function scaleLoudness(loudnessDb: Float32Array | Float64Array, rangeDb = 80, out?: Float32Array): Float32Array {
  const y = out ?? new Float32Array(loudnessDb.length);
  if (y.length !== loudnessDb.length) throw new Error(`out has length ${y.length}, expected ${loudnessDb.length}`);
  for (let i = 0; i < loudnessDb.length; i++) y[i] = loudnessDb[i] / rangeDb + 1;
  return y;
}

/**
 * Reusable loudness state: FFT plan, window, per-bin weights, scratch. Not re-entrant; one per
 * concurrent caller.
 */
export class LoudnessPlan {
  readonly config: LoudnessConfig;
  private readonly fft: RealFftPlan;
  private readonly window: Float64Array;
  /** 10^((A(f_k) − refDb)/10): the A-weighting and reference as a power gain per bin. */
  private readonly gain: Float64Array;
  private readonly frame: Float64Array;
  private readonly power: Float64Array;

  constructor(config: LoudnessConfig = DDX7_LOUDNESS) {
    if (!(config.sampleRate > 0)) throw new Error(`sampleRate must be positive, got ${config.sampleRate}`);
    if (!Number.isInteger(config.hop) || config.hop <= 0) throw new Error(`hop must be a positive integer, got ${config.hop}`);
    if (!(config.rangeDb > 0)) throw new Error(`rangeDb must be positive, got ${config.rangeDb}`);
    this.config = Object.freeze({ ...config });
    this.fft = new RealFftPlan(config.nFft);
    this.window = hannPeriodic(config.nFft);
    const bins = this.fft.bins;
    this.gain = new Float64Array(bins);
    for (let k = 0; k < bins; k++) {
      const a = Math.max(aWeightingDb((k * config.sampleRate) / config.nFft), A_WEIGHTING_FLOOR_DB);
      this.gain[k] = Math.pow(10, (a - config.refDb) / 10);
    }
    this.frame = new Float64Array(config.nFft);
    this.power = new Float64Array(bins);
  }

  /**
   * Loudness of every control frame of a signal.
   *
   * @param signal samples at `config.sampleRate`, shape [n] (not mutated).
   * @param out optional caller-owned buffer, shape [countControlFrames(n, hop)].
   * @returns dB per frame, ≥ −rangeDb; shape [1 + ⌈n/hop⌉].
   */
  compute(signal: RealInput, out?: Float32Array): Float32Array {
    const frames = countControlFrames(signal.length, this.config.hop);
    const y = out ?? new Float32Array(frames);
    if (y.length !== frames) throw new Error(`out has length ${y.length}, expected ${frames}`);
    for (let t = 0; t < frames; t++) y[t] = this.frameLoudness(signal, t * this.config.hop);
    return y;
  }

  /**
   * Loudness of the frame centred on sample `centre` (zero padding outside the signal).
   *
   * @returns dB, ≥ −rangeDb.
   */
  frameLoudness(signal: RealInput, centre: number): number {
    const n = this.config.nFft;
    const start = centre - n / 2;
    const len = signal.length;
    const f = this.frame;
    const w = this.window;
    if (start >= 0 && start + n <= len) {
      for (let i = 0; i < n; i++) f[i] = signal[start + i] * w[i];
    } else {
      for (let i = 0; i < n; i++) {
        const j = start + i;
        f[i] = j >= 0 && j < len ? signal[j] * w[i] : 0;
      }
    }
    const p = this.fft.power(f, this.power);
    const gain = this.gain;
    const bins = p.length;
    const floorDb = -this.config.rangeDb;
    if (this.config.averaging === 'power') {
      let sum = 0;
      for (let k = 0; k < bins; k++) sum += p[k] * gain[k];
      const db = 10 * Math.log10(sum / bins);
      return db > floorDb ? db : floorDb;
    }
    // Mean of max(10·log10(p·gain), floor). A log per bin is the cost of this loop, so the
    // bins above the floor are multiplied together and logged once per 16 (a product of 16
    // weighted powers stays far inside float64's range: each lies in (1e-8, 1e5) for
    // full-scale input; 16 of them stay within 1e±128), and floored bins are counted, not logged.
    const floorLin = Math.pow(10, floorDb / 10);
    let logSum = 0;
    let floored = 0;
    let product = 1;
    let pending = 0;
    for (let k = 0; k < bins; k++) {
      const v = p[k] * gain[k];
      if (v <= floorLin) {
        floored++;
      } else {
        product *= v;
        if (++pending === 16) {
          logSum += Math.log10(product);
          product = 1;
          pending = 0;
        }
      }
    }
    if (pending > 0) logSum += Math.log10(product);
    return (10 * logSum + floorDb * floored) / bins;
  }
}

/**
 * A-weighted loudness of a signal with DDX7's settings (`DDX7_LOUDNESS`).
 *
 * @param signal samples at 16 kHz, shape [n] (not mutated).
 * @returns dB per frame, ≥ −80; shape [1 + ⌈n/64⌉], aligned with `trackPitch`.
 */
export function loudnessDb(signal: RealInput): Float32Array {
  return new LoudnessPlan(DDX7_LOUDNESS).compute(signal);
}
