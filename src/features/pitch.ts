/**
 * Fundamental frequency at the DDX7 control rate: one estimate every 64 samples at 16 kHz
 * (250 frames/s), 50–2000 Hz (CREPE's range, as DDX7 uses it), each with a confidence in [0, 1].
 *
 * Tracker: YIN (de Cheveigné & Kawahara 2002, JASA 111(4)): §II.B difference function,
 * §II.C cumulative mean normalised difference (CMND), §II.D absolute threshold, §II.E parabolic
 * interpolation, §II.F best local estimate. Confidence = 1 − CMND at the chosen dip, clipped to
 * [0, 1] (the "aperiodicity" of §II.D turned around, so a clean period gives ≈ 1).
 *
 * Where this departs from the paper's textbook form, and why:
 * - Difference function over a centred, shrinking overlap: frame x = the `span` samples centred
 *   on the frame's sample c, d(τ) = Σ_{j<span−τ} (x_j − x_{j+τ})² · span/(span − τ). The
 *   paper's fixed window [s, s+W) vs [s+τ, s+τ+W) has a midpoint that drifts by τ/2 (10 ms at
 *   50 Hz), a lag of several cents under vibrato; here both halves of every comparison are
 *   centred on c. The factor span/(span − τ) makes d a per-sample mean square, so the
 *   shrinking overlap does not tilt the CMND towards long lags.
 * - Computed fast: d(τ) = E₁(τ) + E₂(τ) − 2·r(τ) with r the autocorrelation, from two real FFTs
 *   of 1024 points per frame (|F|², then one more forward FFT of that even spectrum as the
 *   inverse); zero padding of maxLag + 1 keeps it free of circular wrap-around. E₁, E₂ come
 *   from a prefix sum of squares.
 * - Sub-sample period: after §II.E's parabola, Newton steps on the band-limited d (r is a
 *   cosine series in the power spectrum), since the parabola is biased by ~10 cents when the
 *   period is only ~9 samples (1760 Hz).
 * - Short periods: a sharp dip between two integer lags can miss the threshold while its
 *   double does not (a sub-octave error at ~1.5 kHz); sub-multiples under 32 samples of the
 *   chosen lag are re-tested with the band-limited d.
 *
 * No pYIN/Viterbi smoothing: on the synthetic tones and the fixture notes the raw track is
 * already within a few cents where it is confident (see test/pitch.test.ts); smoothing would
 * also blur the attacks DDX7's decoder has to follow. Callers that want it can gate on
 * `confidence`.
 *
 * Framing: frame t is centred on sample t·hop; a signal of n samples has 1 + ⌈n/hop⌉ frames
 * (`countControlFrames`), so every sample lies between two frame centres and linear
 * upsampling to audio rate covers the whole signal. For n a multiple of the hop this equals
 * librosa/CREPE's centred count 1 + ⌊n/hop⌋ (64 000 samples → 1001 frames). The signal is
 * zero-padded beyond its ends (CREPE's padding). DDX7's own scripts default to non-centred
 * frames (frame t starts at t·hop, ⌈n/hop⌉ frames); drop the last frame and shift by half a
 * window if that alignment is needed.
 */
import { RealFftPlan, type RealInput } from '../dsp/fft.ts';

/** Tracker configuration. */
export interface PitchConfig {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** Hop between frame centres, samples. */
  readonly hop: number;
  /** Lowest f0 searched, Hz; sets the longest lag ⌈sampleRate/fMinHz⌉. */
  readonly fMinHz: number;
  /** Highest f0 searched, Hz; sets the shortest lag ⌊sampleRate/fMaxHz⌋. */
  readonly fMaxHz: number;
  /**
   * FFT size of the per-frame autocorrelation, samples, a power of two; the analysed span is
   * frameLength − (longest lag + 1), the rest zero padding.
   */
  readonly frameLength: number;
  /** YIN's absolute threshold on the CMND (paper §II.D; 0.1 there). */
  readonly threshold: number;
  /**
   * Frames whose mean square over the frame is below this are silent: confidence 0, f0 held
   * from the previous confident frame. Squared full-scale units; 1e-10 is −100 dBFS.
   */
  readonly silenceMeanSquare: number;
}

/**
 * DDX7's control features at 16 kHz: hop 64 (250 frames/s), 50–2000 Hz. frameLength 1024
 * (CREPE's window length) gives a span of 1024 − 322 = 702 samples (44 ms), so the overlap
 * at the longest lag (320) is 382 samples, 1.2 periods of 50 Hz.
 */
export const DDX7_PITCH: PitchConfig = Object.freeze({
  sampleRate: 16000,
  hop: 64,
  fMinHz: 50,
  fMaxHz: 2000,
  frameLength: 1024,
  threshold: 0.1,
  silenceMeanSquare: 1e-10,
});

/**
 * Lags below this (samples; 32 → above 500 Hz at 16 kHz) sample a harmonic-rich tone's CMND
 * dip too coarsely for the integer-grid threshold test; their sub-multiples are re-tested.
 */
const COARSE_LAG = 32;
/** Integer-grid CMND above which a sub-multiple is not worth the band-limited test. */
const COARSE_PREFILTER = 0.6;

/** An f0 track with its confidence, one value per control frame. */
export interface PitchTrack {
  /** f0 per frame, Hz, in [fMinHz, fMaxHz]; shape [frames]. */
  readonly f0Hz: Float32Array;
  /** Confidence per frame in [0, 1] (1 − CMND minimum); shape [frames]. */
  readonly confidence: Float32Array;
}

/**
 * Number of control frames of a signal: 1 + ⌈length / hop⌉ (frame t centred on sample t·hop).
 * 64 000 samples at hop 64 → 1001.
 *
 * @param length signal length, samples, ≥ 0.
 * @param hop hop, samples, positive integer.
 */
export function countControlFrames(length: number, hop = 64): number {
  if (!Number.isInteger(length) || length < 0) throw new Error(`length must be a non-negative integer, got ${length}`);
  if (!Number.isInteger(hop) || hop <= 0) throw new Error(`hop must be a positive integer, got ${hop}`);
  return 1 + Math.ceil(length / hop);
}

/**
 * Frequency → MIDI pitch, equal temperament, A4 (69) = 440 Hz.
 *
 * @param hz frequency, Hz, > 0.
 * @returns MIDI note number, fractional (−∞ for 0 Hz).
 */
export function midiOfHz(hz: number): number {
  return 69 + 12 * Math.log2(hz / 440);
}

/**
 * MIDI pitch → frequency, equal temperament, A4 (69) = 440 Hz.
 *
 * @param midi MIDI note number, fractional allowed.
 * @returns Hz.
 */
export function hzOfMidi(midi: number): number {
  return 440 * Math.pow(2, (midi - 69) / 12);
}

/**
 * f0 as DDX7's decoder takes it (ddsp's `scale_f0_hz`): MIDI / 127, so 0 … 127 ↦ 0 … 1
 * (8.18 Hz ↦ 0, 12.5 kHz ↦ 1; 50–2000 Hz ↦ 0.24–0.74).
 *
 * @param f0Hz per-frame f0, Hz, > 0; shape [frames] (not mutated).
 * @param out optional caller-owned buffer, shape [frames].
 * @returns shape [frames].
 */
export function scaleF0(f0Hz: Float32Array | Float64Array, out?: Float32Array): Float32Array {
  const y = out ?? new Float32Array(f0Hz.length);
  if (y.length !== f0Hz.length) throw new Error(`out has length ${y.length}, expected ${f0Hz.length}`);
  for (let i = 0; i < f0Hz.length; i++) y[i] = midiOfHz(f0Hz[i]) / 127;
  return y;
}

/**
 * A constant f0 track at a note's metadata pitch (NSynth's `pitch`): issue 6 uses the metadata
 * when it is given, since NSynth notes are held at one nominal pitch and a tracker can only add
 * errors (octave slips in the decay, noise in the release).
 *
 * @param pitch MIDI note number (NSynth: 21 … 108), fractional allowed.
 * @param frames number of control frames (`countControlFrames`).
 * @param out optional caller-owned buffer, shape [frames].
 * @returns shape [frames], Hz.
 */
export function f0FromMetadata(pitch: number, frames: number, out?: Float32Array): Float32Array {
  if (!Number.isFinite(pitch)) throw new Error(`pitch must be a finite MIDI number, got ${pitch}`);
  if (!Number.isInteger(frames) || frames < 0) throw new Error(`frames must be a non-negative integer, got ${frames}`);
  const y = out ?? new Float32Array(frames);
  if (y.length !== frames) throw new Error(`out has length ${y.length}, expected ${frames}`);
  y.fill(hzOfMidi(pitch));
  return y;
}

/**
 * Reusable YIN state: FFT plan and scratch buffers. Not re-entrant; one per concurrent caller.
 */
export class YinPlan {
  readonly config: PitchConfig;
  /** Shortest lag searched, samples. */
  readonly minLag: number;
  /** Longest lag searched, samples (the last lag computed is one more, for interpolation). */
  readonly maxLag: number;
  /** Analysed span per frame, samples: frameLength − (maxLag + 1) (the rest is zero padding). */
  readonly span: number;
  private readonly fft: RealFftPlan;
  private readonly frame: Float64Array;
  private readonly q: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  /** Prefix sums of squares of the frame, length span + 1. */
  private readonly prefix: Float64Array;
  /** Power spectrum |F_k|² of the current frame, k = 0 … N/2. */
  private readonly power: Float64Array;
  /** Autocorrelation r(τ), τ = 0 … maxLag + 1. */
  private readonly acf: Float64Array;
  /** Cosine series of r: r(τ) = Σ_k g[k]·cos(2πkτ/N), for the refinement. */
  private readonly g: Float64Array;
  /** Normalised difference d(τ), τ = 0 … maxLag + 1. */
  private readonly diff: Float64Array;
  /** CMND d'(τ), τ = 0 … maxLag + 1. */
  private readonly cmnd: Float64Array;
  /** Σ_{j=1}^{τ} d(j), τ = 0 … maxLag + 1 (the CMND's normaliser). */
  private readonly cumulative: Float64Array;
  /** Normalised d at the lag `refineLag` last returned. */
  private refinedDiff = 0;
  /** Confidence of the frame `analyseFrame` last analysed, [0, 1]. */
  lastConfidence = 0;

  constructor(config: PitchConfig = DDX7_PITCH) {
    const { sampleRate, hop, fMinHz, fMaxHz, frameLength, threshold } = config;
    if (!(sampleRate > 0)) throw new Error(`sampleRate must be positive, got ${sampleRate}`);
    if (!Number.isInteger(hop) || hop <= 0) throw new Error(`hop must be a positive integer, got ${hop}`);
    if (!(fMinHz > 0 && fMaxHz > fMinHz && fMaxHz <= sampleRate / 4)) {
      throw new Error(`need 0 < fMinHz < fMaxHz ≤ sampleRate/4, got ${fMinHz} … ${fMaxHz} Hz at ${sampleRate} Hz`);
    }
    if (!(threshold > 0 && threshold < 1)) throw new Error(`threshold must be in (0, 1), got ${threshold}`);
    this.config = Object.freeze({ ...config });
    this.minLag = Math.max(2, Math.floor(sampleRate / fMaxHz));
    this.maxLag = Math.ceil(sampleRate / fMinHz);
    // Zero padding of maxLag + 1 keeps the circular correlation equal to the linear one for
    // every lag used (0 … maxLag + 1).
    this.span = frameLength - (this.maxLag + 1);
    if (this.span - this.maxLag - 1 < this.maxLag) {
      throw new Error(`frameLength ${frameLength} leaves an integration window shorter than the longest period ${this.maxLag}`);
    }
    this.fft = new RealFftPlan(frameLength);
    const bins = this.fft.bins;
    this.frame = new Float64Array(frameLength);
    this.q = new Float64Array(frameLength);
    this.re = new Float64Array(bins);
    this.im = new Float64Array(bins);
    this.prefix = new Float64Array(this.span + 1);
    this.power = new Float64Array(bins);
    this.acf = new Float64Array(this.maxLag + 2);
    this.g = new Float64Array(bins);
    this.diff = new Float64Array(this.maxLag + 2);
    this.cmnd = new Float64Array(this.maxLag + 2);
    this.cumulative = new Float64Array(this.maxLag + 2);
  }

  /**
   * Tracks f0 over a whole signal.
   *
   * @param signal samples at `config.sampleRate`, shape [n] (not mutated).
   * @param out optional caller-owned track with arrays of length countControlFrames(n, hop).
   * @returns f0 (Hz) and confidence per frame, shape [1 + ⌈n/hop⌉] each.
   */
  track(signal: RealInput, out?: PitchTrack): PitchTrack {
    const frames = countControlFrames(signal.length, this.config.hop);
    const f0Hz = out?.f0Hz ?? new Float32Array(frames);
    const confidence = out?.confidence ?? new Float32Array(frames);
    if (f0Hz.length !== frames || confidence.length !== frames) {
      throw new Error(`out arrays have lengths ${f0Hz.length}, ${confidence.length}; expected ${frames}`);
    }
    // Silent frames get NaN first, then hold the previous confident estimate (an f0 has to be
    // fed to the decoder everywhere; over silence its value hardly matters, a jump to fMin would).
    for (let t = 0; t < frames; t++) {
      f0Hz[t] = this.analyseFrame(signal, t * this.config.hop);
      confidence[t] = this.lastConfidence;
    }
    fillSilentFrames(f0Hz, confidence, this.config.fMinHz);
    return { f0Hz, confidence };
  }

  /**
   * YIN at one frame centred on sample `centre` (zero padding outside the signal); the
   * confidence is left in `lastConfidence` (no object per frame in the hot loop).
   *
   * @returns f0, Hz, in [fMinHz, fMaxHz]; NaN when the frame is silent (confidence 0).
   */
  analyseFrame(signal: RealInput, centre: number): number {
    const n = this.fft.size;
    const half = n >> 1;
    const span = this.span;
    const frame = this.frame;
    const start = centre - (span >> 1);
    const len = signal.length;
    if (start >= 0 && start + span <= len) {
      for (let i = 0; i < span; i++) frame[i] = signal[start + i];
    } else {
      for (let i = 0; i < span; i++) {
        const j = start + i;
        frame[i] = j >= 0 && j < len ? signal[j] : 0;
      }
    }
    // frame[span … n) stays zero: the padding.
    const prefix = this.prefix;
    prefix[0] = 0;
    for (let i = 0; i < span; i++) prefix[i + 1] = prefix[i] + frame[i] * frame[i];
    if (prefix[span] <= this.config.silenceMeanSquare * span) {
      this.lastConfidence = 0;
      return NaN;
    }

    // r(τ) = Σ_j x[j]·x[j + τ] = IFFT(|F|²)(τ). The inverse of a real even spectrum is one more
    // forward real FFT of it (the imaginary parts vanish), so two FFTs per frame in all.
    const re = this.re;
    const im = this.im;
    const power = this.power;
    this.fft.forward(frame, re, im);
    const q = this.q;
    for (let k = 0; k <= half; k++) {
      const p = re[k] * re[k] + im[k] * im[k];
      power[k] = p;
      q[k] = p;
      if (k > 0 && k < half) q[n - k] = p;
    }
    this.fft.forward(q, re, im);
    const lagSpan = this.maxLag + 1;
    const acf = this.acf;
    const scale = 1 / n;
    for (let tau = 0; tau <= lagSpan; tau++) acf[tau] = re[tau] * scale;

    // d(τ) over the overlap [0, span − τ) vs [τ, span), per sample (× span/(span − τ)) so that
    // the shrinking overlap does not tilt the CMND towards long lags.
    const diff = this.diff;
    const d = this.cmnd;
    const cum = this.cumulative;
    d[0] = 1;
    cum[0] = 0;
    diff[0] = 0;
    let cumulative = 0;
    for (let tau = 1; tau <= lagSpan; tau++) {
      const energy = prefix[span - tau] + (prefix[span] - prefix[tau]);
      let v = ((energy - 2 * acf[tau]) * span) / (span - tau);
      if (v < 0) v = 0; // rounding; d(τ) is a sum of squares
      diff[tau] = v;
      cumulative += v;
      cum[tau] = cumulative;
      d[tau] = cumulative > 0 ? (v * tau) / cumulative : 1;
    }

    // §II.D: the first dip below the threshold (the shortest period, which avoids sub-octave
    // errors), followed down to its local minimum; else §II.C's global minimum.
    const lo = this.minLag;
    const hi = this.maxLag;
    let best = -1;
    for (let tau = lo; tau <= hi; tau++) {
      if (d[tau] < this.config.threshold) {
        while (tau + 1 <= hi && d[tau + 1] < d[tau]) tau++;
        best = tau;
        break;
      }
    }
    if (best < 0) {
      best = lo;
      for (let tau = lo + 1; tau <= hi; tau++) if (d[tau] < d[best]) best = tau;
    }
    // §II.E: parabola through the CMND dip and its neighbours (τ − 1 ≥ 1, τ + 1 ≤ maxLag + 1)
    // for the confidence and a first fractional lag.
    const y0 = d[best - 1];
    const y1 = d[best];
    const y2 = d[best + 1];
    const curvature = y0 - 2 * y1 + y2;
    let shift = 0;
    let minimum = y1;
    if (curvature > 0) {
      shift = (0.5 * (y0 - y2)) / curvature;
      if (shift > 1) shift = 1;
      else if (shift < -1) shift = -1;
      minimum = y1 - 0.25 * (y0 - y2) * shift;
    }
    const g = this.g;
    for (let k = 0; k <= half; k++) g[k] = ((k === 0 || k === half ? 1 : 2) * power[k]) * scale;
    let lag = this.refineLag(best, best + shift);
    // Short periods: the CMND is sampled at integer lags, and a sharp dip (a bright tone at
    // 1.5 kHz has a period of 10.7 samples) can fall between two samples and miss the threshold
    // while its double, at an integer-ish 21.3, does not: a sub-octave error with high
    // confidence. So test the sub-multiples of the chosen lag that are shorter than
    // `COARSE_LAG` with the band-limited d, shortest first (YIN's preference for the shortest
    // period). A loose integer-grid test keeps this off the common path.
    for (let k = Math.floor(lag / this.minLag); k >= 2; k--) {
      const c = lag / k;
      if (c >= COARSE_LAG || c < this.minLag) continue;
      const i = Math.round(c);
      if (Math.min(d[i - 1], d[i], d[i + 1]) > COARSE_PREFILTER) continue;
      const x = this.refineLag(i, c);
      const fl = Math.floor(x);
      const norm = cum[fl] + (x - fl) * this.refinedDiff;
      const value = norm > 0 ? (this.refinedDiff * x) / norm : 1;
      if (value < this.config.threshold && Math.abs(x - c) < 0.5) {
        lag = x;
        minimum = value;
        break;
      }
    }
    let f0 = this.config.sampleRate / lag;
    if (f0 < this.config.fMinHz) f0 = this.config.fMinHz;
    else if (f0 > this.config.fMaxHz) f0 = this.config.fMaxHz;
    const c = 1 - minimum;
    this.lastConfidence = c < 0 ? 0 : c > 1 ? 1 : c;
    return f0;
  }

  /**
   * Refines the period to a fraction of a sample by Newton steps on the band-limited d(τ).
   *
   * Why: a parabola through three integer lags is biased when the dip spans few samples (at
   * 1760 Hz the period is 9.1 samples and the dip is a raised cosine, not a parabola): about
   * 10 cents there. The autocorrelation is a cosine series in τ whose coefficients are the
   * power spectrum already computed, so it and its derivatives are exact at any fractional lag;
   * the energy terms vary slowly and are interpolated linearly.
   *
   * @param best integer lag of the dip.
   * @param start first estimate (the parabolic one), within best ± 1.
   * @returns the lag of d's minimum near `best`, samples; the last in-range iterate if Newton
   *   does not settle. The normalised d there is left in `refinedDiff`.
   */
  private refineLag(best: number, start: number): number {
    const n = this.fft.size;
    const half = n >> 1;
    const g = this.g;
    const prefix = this.prefix;
    const span = this.span;
    const energyAt = (tau: number): number => prefix[span - tau] + (prefix[span] - prefix[tau]);
    const step = (2 * Math.PI) / n;
    let x = start;
    let value = NaN;
    for (let iter = 0; iter < 4; iter++) {
      // Σ g_k·cos(kθ), Σ g_k·k·sin(kθ), Σ g_k·k²·cos(kθ) by rotating e^{iθ} (no trig in the loop).
      const theta = step * x;
      const cr = Math.cos(theta);
      const sr = Math.sin(theta);
      let c = 1;
      let s = 0;
      let r0 = g[0];
      let r1 = 0;
      let r2 = 0;
      for (let k = 1; k <= half; k++) {
        const c2 = c * cr - s * sr;
        s = s * cr + c * sr;
        c = c2;
        r0 += g[k] * c;
        r1 += g[k] * k * s;
        r2 += g[k] * k * k * c;
      }
      // d(τ) = E(τ) − 2r(τ): d' = E' + 2·step·Σ g k sin, d'' = 2·step²·Σ g k² cos (E linear).
      // The per-sample factor span/(span − τ) is nearly constant over ±1 lag and is left out
      // of the search (it moves the minimum by < 1e-3 sample), but kept in the value.
      const lo = Math.floor(x);
      const eLo = energyAt(lo);
      const slope = energyAt(lo + 1) - eLo;
      value = ((eLo + slope * (x - lo) - 2 * r0) * span) / (span - x);
      const grad = slope + 2 * step * r1;
      const curv = 2 * step * step * r2;
      if (!(curv > 0)) break;
      const next = x - grad / curv;
      if (!(next > best - 1 && next < best + 1)) break;
      x = next;
      if (Math.abs(grad / curv) < 1e-6) break;
    }
    this.refinedDiff = value > 0 ? value : 0;
    return x;
  }
}

/** Confidence from which an estimate may be copied into silent frames. */
const HOLD_CONFIDENCE = 0.5;

/**
 * Replaces NaN entries (silent frames) by the previous confident estimate (a leading run by the
 * first one), so an onset frame that sees a few samples of the note does not set the f0 of the
 * silence before it. Without any confident frame, the previous finite estimate, else `fallback`.
 */
function fillSilentFrames(f0: Float32Array, confidence: Float32Array, fallback: number): void {
  const n = f0.length;
  let firstConfident = NaN;
  let firstFinite = NaN;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(f0[i])) continue;
    if (Number.isNaN(firstFinite)) firstFinite = f0[i];
    if (confidence[i] >= HOLD_CONFIDENCE) {
      firstConfident = f0[i];
      break;
    }
  }
  let held = Number.isNaN(firstConfident) ? (Number.isNaN(firstFinite) ? fallback : firstFinite) : firstConfident;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(f0[i])) f0[i] = held;
    else if (confidence[i] >= HOLD_CONFIDENCE || Number.isNaN(firstConfident)) held = f0[i];
  }
}

/**
 * f0 and confidence of a signal with the DDX7 settings (`DDX7_PITCH`).
 *
 * @param signal samples at 16 kHz, shape [n] (not mutated).
 * @returns f0 (Hz, 50–2000) and confidence ([0, 1]) per frame, shape [1 + ⌈n/64⌉] each.
 */
export function trackPitch(signal: RealInput): PitchTrack {
  // A plan's tables cost ~0.1 ms; hot loops over many notes should keep their own `YinPlan`.
  return new YinPlan(DDX7_PITCH).track(signal);
}
