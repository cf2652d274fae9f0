/**
 * Fundamental frequency at the DDX7 control rate: one estimate every 64 samples at 16 kHz
 * (250 frames/s), 50–2000 Hz (CREPE's range, as DDX7 uses it), each with a confidence in [0, 1].
 *
 * Tracker: YIN (de Cheveigné & Kawahara 2002, JASA 111(4)): §II.B difference function,
 * §II.C cumulative mean normalised difference (CMND), §II.D absolute threshold, §II.E parabolic
 * interpolation, §II.F best local estimate. Confidence = 1 − CMND at the chosen dip, clipped to
 * [0, 1] (the "aperiodicity" of §II.D turned around, so a clean period gives ≈ 1).
 *
 * Two choices differ from the paper's textbook form:
 * - The difference function is made symmetric about the frame centre c:
 *   d(τ) = ½·Σ_j (m_j − x[s+j+τ])² + ½·Σ_j (m_j − x[s+j−τ])², m_j = x[s+j], s = c − W/2.
 *   The one-sided form compares [s, s+W) with [s+τ, s+τ+W), whose midpoint drifts by τ/2
 *   (up to 10 ms at 50 Hz); under vibrato that is a lag of several cents. The two halves put
 *   the comparison's midpoint at c for every τ.
 * - Both halves come from one cross-correlation of m with the frame, computed by FFT (three
 *   real FFTs of 1024 points per frame instead of W·τmax multiply-adds); the energy terms come
 *   from a prefix sum of squares.
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
   * FFT size of the per-frame correlation, samples, a power of two; the frame spans this many
   * samples and the integration window is W = frameLength − 2·(longest lag + 1).
   */
  readonly frameLength: number;
  /** YIN's absolute threshold on the CMND (paper §II.D; 0.1 there). */
  readonly threshold: number;
  /**
   * Frames whose mean square over the frame is below this are silent: confidence 0, f0 held
   * from the nearest non-silent frame. Squared full-scale units; 1e-10 is −100 dBFS.
   */
  readonly silenceMeanSquare: number;
}

/**
 * DDX7's control features at 16 kHz: hop 64 (250 frames/s), 50–2000 Hz. frameLength 1024
 * (64 ms, CREPE's window) gives W = 1024 − 2·322 = 380 samples (1.2 periods at 50 Hz; the
 * symmetric form integrates over 2W).
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
  /** Integration window W, samples. */
  readonly window: number;
  private readonly fft: RealFftPlan;
  private readonly frame: Float64Array;
  private readonly middle: Float64Array;
  private readonly q: Float64Array;
  private readonly aRe: Float64Array;
  private readonly aIm: Float64Array;
  private readonly bRe: Float64Array;
  private readonly bIm: Float64Array;
  private readonly prefix: Float64Array;
  /** cc[k] = Σ_j m[j]·frame[j + k], k = 0 … 2·(maxLag + 1). */
  private readonly correlation: Float64Array;
  /** Cross-spectrum P = conj(M)·F of the current frame, bins 0 … N/2. */
  private readonly pRe: Float64Array;
  private readonly pIm: Float64Array;
  /** Cosine series of s(τ) = cc(L + τ) + cc(L − τ) = Σ_k g[k]·cos(2πkτ/N), for the refinement. */
  private readonly g: Float64Array;
  /** cos/sin(2πk·L/N), k = 0 … N/2: rotates the cross-spectrum to the centre lag L. */
  private readonly centreCos: Float64Array;
  private readonly centreSin: Float64Array;
  /** CMND d'(τ), τ = 0 … maxLag + 1. */
  private readonly cmnd: Float64Array;
  /** Σ_{j=1}^{τ} d(j), τ = 0 … maxLag + 1 (the CMND's normaliser). */
  private readonly cumulative: Float64Array;
  /** d at the lag `refineLag` last returned. */
  private refinedDiff = 0;

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
    // The correlation needs lags −(maxLag+1) … maxLag+1 around W samples, inside one FFT frame
    // without circular wrap-around.
    this.window = frameLength - 2 * (this.maxLag + 1);
    if (this.window < this.maxLag) {
      throw new Error(`frameLength ${frameLength} leaves an integration window of ${this.window} samples, shorter than the longest period ${this.maxLag}`);
    }
    this.fft = new RealFftPlan(frameLength);
    const bins = this.fft.bins;
    this.frame = new Float64Array(frameLength);
    this.middle = new Float64Array(frameLength);
    this.q = new Float64Array(frameLength);
    this.aRe = new Float64Array(bins);
    this.aIm = new Float64Array(bins);
    this.bRe = new Float64Array(bins);
    this.bIm = new Float64Array(bins);
    this.prefix = new Float64Array(frameLength + 1);
    this.correlation = new Float64Array(2 * this.maxLag + 3);
    this.pRe = new Float64Array(bins);
    this.pIm = new Float64Array(bins);
    this.g = new Float64Array(bins);
    this.centreCos = new Float64Array(bins);
    this.centreSin = new Float64Array(bins);
    for (let k = 0; k < bins; k++) {
      const a = (2 * Math.PI * k * (this.maxLag + 1)) / frameLength;
      this.centreCos[k] = Math.cos(a);
      this.centreSin[k] = Math.sin(a);
    }
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
    // Silent frames get NaN first, then hold the previous estimate (an f0 has to be fed to the
    // decoder everywhere; over silence its value hardly matters, a jump to fMin would).
    for (let t = 0; t < frames; t++) {
      const r = this.analyseFrame(signal, t * this.config.hop);
      f0Hz[t] = r.f0Hz;
      confidence[t] = r.confidence;
    }
    fillSilentFrames(f0Hz, this.config.fMinHz);
    return { f0Hz, confidence };
  }

  /**
   * YIN at one frame centred on sample `centre` (zero padding outside the signal).
   *
   * @returns f0 in Hz (NaN when the frame is silent) and confidence in [0, 1].
   */
  analyseFrame(signal: RealInput, centre: number): { f0Hz: number; confidence: number } {
    const n = this.fft.size;
    const lagSpan = this.maxLag + 1;
    const w = this.window;
    const frame = this.frame;
    const start = centre - (w >> 1) - lagSpan;
    const len = signal.length;
    if (start >= 0 && start + n <= len) {
      for (let i = 0; i < n; i++) frame[i] = signal[start + i];
    } else {
      for (let i = 0; i < n; i++) {
        const j = start + i;
        frame[i] = j >= 0 && j < len ? signal[j] : 0;
      }
    }
    const prefix = this.prefix;
    prefix[0] = 0;
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + frame[i] * frame[i];
    if (prefix[n] <= this.config.silenceMeanSquare * n) return { f0Hz: NaN, confidence: 0 };

    // m = frame[lagSpan … lagSpan + W), zero elsewhere (the tail stays zero between calls).
    const middle = this.middle;
    for (let j = 0; j < w; j++) middle[j] = frame[lagSpan + j];
    this.fft.forward(frame, this.bRe, this.bIm);
    this.fft.forward(middle, this.aRe, this.aIm);
    // cc[k] = Σ_j m[j]·frame[j + k] = IFFT(conj(M)·F)[k]. The inverse of the Hermitian product P
    // is read off one more real FFT of q = Re P + Im P (P extended to all N bins): for real
    // output, N·cc[k] = Re Q[k] + Im Q[k].
    const half = n >> 1;
    const q = this.q;
    const aRe = this.aRe;
    const aIm = this.aIm;
    const bRe = this.bRe;
    const bIm = this.bIm;
    const pRe = this.pRe;
    const pIm = this.pIm;
    for (let k = 0; k <= half; k++) {
      pRe[k] = aRe[k] * bRe[k] + aIm[k] * bIm[k];
      pIm[k] = aRe[k] * bIm[k] - aIm[k] * bRe[k];
    }
    q[0] = pRe[0];
    q[half] = pRe[half];
    for (let k = 1; k < half; k++) {
      q[k] = pRe[k] + pIm[k];
      q[n - k] = pRe[k] - pIm[k];
    }
    this.fft.forward(q, aRe, aIm);
    // cc at index k ≤ N/2 is (Re Q[k] + Im Q[k])/N; beyond, Q[k] = conj Q[N − k].
    const scale = 1 / n;
    const cc = this.correlation;
    const top = 2 * lagSpan;
    for (let k = 0; k <= top; k++) cc[k] = k <= half ? (aRe[k] + aIm[k]) * scale : (aRe[n - k] - aIm[n - k]) * scale;

    const energyMiddle = prefix[lagSpan + w] - prefix[lagSpan];
    const d = this.cmnd;
    const cum = this.cumulative;
    d[0] = 1;
    cum[0] = 0;
    let cumulative = 0;
    for (let tau = 1; tau <= lagSpan; tau++) {
      const ePlus = prefix[lagSpan + tau + w] - prefix[lagSpan + tau];
      const eMinus = prefix[lagSpan - tau + w] - prefix[lagSpan - tau];
      let diff = energyMiddle + 0.5 * (ePlus + eMinus) - (cc[lagSpan + tau] + cc[lagSpan - tau]);
      if (diff < 0) diff = 0; // rounding; d(τ) is a sum of squares
      cumulative += diff;
      cum[tau] = cumulative;
      d[tau] = cumulative > 0 ? (diff * tau) / cumulative : 1;
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
    this.prepareSeries();
    let lag = this.refineLag(best, best + shift, energyMiddle);
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
      const x = this.refineLag(i, c, energyMiddle);
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
    return { f0Hz: f0, confidence: c < 0 ? 0 : c > 1 ? 1 : c };
  }

  /**
   * Refines the period to a fraction of a sample by Newton steps on the band-limited d(τ).
   *
   * Why: a parabola through three integer lags is biased when the dip spans few samples (at
   * 1760 Hz the period is 9.1 samples and the dip is a raised cosine, not a parabola): about
   * 10 cents there. The correlation term of d is a cosine series in τ whose coefficients come
   * from the cross-spectrum already computed, so d and its derivatives are exact at any
   * fractional lag; the energy terms vary slowly and are interpolated linearly.
   *
   * @param best integer lag of the dip.
   * @param start first estimate (the parabolic one), within best ± 1.
   * @param energyMiddle Σ m², the constant term of d.
   * @returns the lag of d's minimum near `best`, samples; `start` if Newton does not settle.
   */
  private refineLag(best: number, start: number, energyMiddle: number): number {
    const n = this.fft.size;
    const half = n >> 1;
    const g = this.g;
    const prefix = this.prefix;
    const lagSpan = this.maxLag + 1;
    const win = this.window;
    const energyAt = (tau: number): number =>
      energyMiddle + 0.5 * (prefix[lagSpan + tau + win] - prefix[lagSpan + tau] + prefix[lagSpan - tau + win] - prefix[lagSpan - tau]);
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
      let d0 = g[0];
      let d1 = 0;
      let d2 = 0;
      for (let k = 1; k <= half; k++) {
        const c2 = c * cr - s * sr;
        s = s * cr + c * sr;
        c = c2;
        d0 += g[k] * c;
        d1 += g[k] * k * s;
        d2 += g[k] * k * k * c;
      }
      // d(τ) = E(τ) − s(τ): d' = E' + step·Σ g k sin, d'' = step²·Σ g k² cos (E linear).
      const lo = Math.floor(x);
      const eLo = energyAt(lo);
      const slope = energyAt(lo + 1) - eLo;
      value = eLo + slope * (x - lo) - d0;
      const grad = slope + step * d1;
      const curv = step * step * d2;
      if (!(curv > 0)) break;
      const next = x - grad / curv;
      if (!(next > best - 1 && next < best + 1)) break;
      x = next;
      if (Math.abs(grad / curv) < 1e-6) break;
    }
    this.refinedDiff = value > 0 ? value : 0;
    return x;
  }

  /** Fills the cosine series g of the current frame's correlation term (see `refineLag`). */
  private prepareSeries(): void {
    const n = this.fft.size;
    const half = n >> 1;
    const g = this.g;
    const pRe = this.pRe;
    const pIm = this.pIm;
    const cosL = this.centreCos;
    const sinL = this.centreSin;
    // cc(y) = (1/N)·Σ_{k=−N/2}^{N/2} P_k·e^{2πiky/N} (the band-limited interpolant), so
    // cc(L + τ) + cc(L − τ) = Σ_k g_k·cos(2πkτ/N), g_k = (2·w_k/N)·Re(P_k·e^{2πikL/N}),
    // w_k = 1 at DC and Nyquist, 2 between (the negative frequencies folded in).
    for (let k = 0; k <= half; k++) {
      const w = k === 0 || k === half ? 1 : 2;
      g[k] = ((2 * w) / n) * (pRe[k] * cosL[k] - pIm[k] * sinL[k]);
    }
  }
}

/** Replaces NaN entries (silent frames) by the previous finite one (a leading run by the first), or `fallback` if none. */
function fillSilentFrames(f0: Float32Array, fallback: number): void {
  const n = f0.length;
  let last = NaN;
  // Forward pass holds the previous estimate; a backward pass fills the leading run.
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(f0[i])) f0[i] = last;
    else last = f0[i];
  }
  let first = 0;
  while (first < n && Number.isNaN(f0[first])) first++;
  if (first === n) {
    f0.fill(fallback);
    return;
  }
  for (let i = 0; i < first; i++) f0[i] = f0[first];
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
