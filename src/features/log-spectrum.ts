/**
 * A log-frequency magnitude spectrum of a whole note: the input of the spectral carrier estimator
 * (`npm run train-carrier`, ours).
 *
 * Why this representation: every frequency in a patch is a multiple of the carrier (modulator k
 * runs at ratio_k × carrier, and the sidebands sit at carrier + Σ n_k·ratio_k·carrier), so on a
 * log-frequency axis changing the carrier shifts the whole spectrum and changes nothing else. A
 * convolution over that axis is then equivariant to the carrier, and "is the carrier here?" is the
 * same local question at every bin. One Hann-windowed FFT of the whole 4 s note, zero-padded to
 * twice its length, resolves 0.5 Hz (fine enough for 10-cent bins down to about 80 Hz; below that
 * the bins are interpolated between FFT bins) and reads each partial's level within 0.4 dB (with a rectangular
 * window and no padding, a partial between FFT bins reads up to 3.9 dB low, and its sidelobes
 * clutter the range below −40 dB).
 */
import { isPowerOfTwo, RealFftPlan } from '../dsp/fft.ts';
import { hannPeriodic } from '../dsp/window.ts';

/** Layout of the log-frequency axis. JSON-serialisable (saved beside the carrier model). */
export interface LogSpectrumConfig {
  /** Centre of bin 0, Hz (> 0). */
  readonly lowHz: number;
  /** Bin spacing, cents (> 0). */
  readonly binCents: number;
  /** Number of bins (≥ 1); the top bin's centre stays below the Nyquist frequency. */
  readonly count: number;
  /** Sample rate of the notes, Hz. */
  readonly sampleRate: number;
  /**
   * FFT size, samples (power of two ≥ the note length; the windowed note is zero-padded). Twice
   * the note length or more keeps the scalloping of a partial's peak below 0.4 dB.
   */
  readonly fftSize: number;
  /** Dynamic range kept below the note's strongest bin, dB (> 0); quieter bins read 0. */
  readonly rangeDb: number;
}

/**
 * 15 Hz … 7.9 kHz in 10-cent bins (1,085 bins) for 4 s notes at 16 kHz: the carrier's range
 * (20 … 6,000 Hz) plus room for the sidebands just below and well above it.
 */
export const DEFAULT_LOG_SPECTRUM: LogSpectrumConfig = Object.freeze({
  lowHz: 15,
  binCents: 10,
  count: 1085,
  sampleRate: 16000,
  fftSize: 131072,
  rangeDb: 100,
});

/** Centre frequency of bin `k`, Hz. */
export function logSpectrumBinHz(config: LogSpectrumConfig, k: number): number {
  return config.lowHz * 2 ** ((k * config.binCents) / 1200);
}

/** Fractional bin index of `hz` (may lie outside 0 … count − 1). */
export function logSpectrumBinOf(config: LogSpectrumConfig, hz: number): number {
  return (1200 * Math.log2(hz / config.lowHz)) / config.binCents;
}

/** Throws a one-line error if the layout is unusable. */
export function checkLogSpectrumConfig(config: LogSpectrumConfig): void {
  const { lowHz, binCents, count, sampleRate, fftSize, rangeDb } = config;
  if (!(lowHz > 0) || !(binCents > 0) || !Number.isInteger(count) || count < 1 || !(rangeDb > 0)) {
    throw new Error(`log spectrum: bad layout ${JSON.stringify(config)}`);
  }
  if (!(sampleRate > 0) || !isPowerOfTwo(fftSize)) throw new Error(`log spectrum: bad sample rate or FFT size (a power of two) in ${JSON.stringify(config)}`);
  if (logSpectrumBinHz(config, count - 1 + 0.5) >= sampleRate / 2) {
    throw new Error(`log spectrum: the top bin (${logSpectrumBinHz(config, count - 1).toFixed(1)} Hz) reaches the Nyquist frequency`);
  }
}

/**
 * A reusable plan (FFT tables, scratch, bin edges). Not re-entrant: one per caller.
 */
export class LogSpectrumPlan {
  readonly config: LogSpectrumConfig;
  private readonly fft: RealFftPlan;
  private readonly mag: Float64Array;
  /** Per log bin: first and one-past-last FFT bin inside its edges (fewer than three: interpolated instead). */
  private readonly first: Int32Array;
  private readonly end: Int32Array;
  /** Per log bin: its centre in fractional FFT bins (for interpolation when the bin is empty). */
  private readonly centre: Float64Array;
  /** Per log bin: its linear magnitude (scratch). */
  private readonly vals: Float64Array;
  /** Windowed copy of the note, and the periodic Hann window of the last note length seen. */
  private windowed: Float64Array = new Float64Array(0);
  private window: Float64Array = new Float64Array(0);

  constructor(config: LogSpectrumConfig = DEFAULT_LOG_SPECTRUM) {
    checkLogSpectrumConfig(config);
    this.config = config;
    this.fft = new RealFftPlan(config.fftSize);
    this.mag = new Float64Array(this.fft.bins);
    const hzPerBin = config.sampleRate / config.fftSize;
    this.first = new Int32Array(config.count);
    this.end = new Int32Array(config.count);
    this.centre = new Float64Array(config.count);
    this.vals = new Float64Array(config.count);
    for (let k = 0; k < config.count; k++) {
      const lo = logSpectrumBinHz(config, k - 0.5) / hzPerBin;
      const hi = logSpectrumBinHz(config, k + 0.5) / hzPerBin;
      this.first[k] = Math.ceil(lo);
      this.end[k] = Math.max(Math.ceil(lo), Math.ceil(hi));
      this.centre[k] = logSpectrumBinHz(config, k) / hzPerBin;
    }
  }

  /**
   * Writes the note's log-frequency spectrum into `out[offset … offset + count)`: per bin the
   * largest magnitude of the Hann-windowed note's FFT inside its edges (quadratic interpolation
   * at its centre when fewer than three FFT bins fall inside), in dB relative to the strongest bin, mapped from [−rangeDb, 0] to [0, 1].
   * A silent note gives all zeros. Level-invariant: scaling the note changes nothing.
   *
   * @param signal the note, at `config.sampleRate`, length ≤ fftSize; finite samples.
   */
  compute(signal: Float32Array | Float64Array, out: Float32Array, offset = 0): void {
    const { count, rangeDb } = this.config;
    if (signal.length > this.config.fftSize) throw new Error(`log spectrum: note of ${signal.length} samples exceeds the FFT size ${this.config.fftSize}`);
    const n = signal.length;
    if (this.window.length !== n) {
      this.window = hannPeriodic(n);
      this.windowed = new Float64Array(n);
    }
    for (let i = 0; i < n; i++) this.windowed[i] = (signal[i] as number) * (this.window[i] as number);
    const mag = this.fft.magnitude(this.windowed, this.mag);
    let peak = 0;
    const vals = this.vals;
    for (let k = 0; k < count; k++) {
      let v = 0;
      const a = this.first[k] as number;
      const b = this.end[k] as number;
      // Max-pooling needs a few FFT bins per log bin: with one or two, the log bin holding the FFT
      // sample nearest a partial wins, which can be the neighbour of the partial's own bin.
      if (b - a >= 3) {
        for (let j = a; j < b; j++) if ((mag[j] as number) > v) v = mag[j] as number;
      } else {
        // Fewer than three FFT bins wide (below ≈ 60 Hz at the default layout): the quadratic through
        // the three nearest FFT bins, so that a partial peaks in its own log bin rather than at
        // the FFT grid point nearest to it (a linear interpolation peaks only on grid points).
        // The stencil is centred on the larger of the two FFT bins around the centre, so near a
        // partial it straddles the partial's peak.
        const c = this.centre[k] as number;
        const f = Math.floor(c);
        const j = Math.max(1, (mag[f + 1] as number) > (mag[f] as number) ? f + 1 : f);
        const t = c - j;
        const a = mag[j - 1] as number;
        const b = mag[j] as number;
        const d = mag[j + 1] as number;
        v = Math.max(0, b + 0.5 * t * (d - a) + 0.5 * t * t * (d - 2 * b + a));
      }
      vals[k] = v;
      if (v > peak) peak = v;
    }
    if (!(peak > 0)) {
      out.fill(0, offset, offset + count);
      return;
    }
    for (let k = 0; k < count; k++) {
      const db = 20 * Math.log10(Math.max((vals[k] as number) / peak, 1e-12));
      out[offset + k] = Math.max(0, 1 + db / rangeDb);
    }
  }
}
