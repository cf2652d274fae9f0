/**
 * The Slaney mel scale and the Slaney-normalised triangular mel filterbank, as librosa builds them
 * by default (`librosa.filters.mel(..., htk=False, norm='slaney')`, after Slaney's Auditory
 * Toolbox): linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4), and
 * each triangle scaled by 2/(f_{m+2} − f_m) so that every filter has the same area, whatever its
 * width (spec §5).
 */

/** Hz per mel in the linear part of the Slaney scale (below 1 kHz). */
const SLANEY_HZ_PER_MEL = 200 / 3;
/** Where the Slaney scale turns logarithmic, Hz. */
const SLANEY_BREAK_HZ = 1000;
/** The mel value at the break: 1000 / (200/3) = 15. */
const SLANEY_BREAK_MEL = SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL;
/** Natural-log step per mel above the break: 27 mels span a factor 6.4 (Slaney). */
const SLANEY_LOG_STEP = Math.log(6.4) / 27;

/**
 * Hz → mel on the Slaney scale.
 *
 * @param hz frequency, Hz, ≥ 0.
 * @returns mels (1000 Hz ↦ 15).
 */
export function hzToMelSlaney(hz: number): number {
  if (hz < SLANEY_BREAK_HZ) return hz / SLANEY_HZ_PER_MEL;
  return SLANEY_BREAK_MEL + Math.log(hz / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP;
}

/**
 * Mel → Hz on the Slaney scale; the inverse of `hzToMelSlaney`.
 *
 * @param mel mels, ≥ 0.
 * @returns frequency, Hz.
 */
export function melToHzSlaney(mel: number): number {
  if (mel < SLANEY_BREAK_MEL) return mel * SLANEY_HZ_PER_MEL;
  return SLANEY_BREAK_HZ * Math.exp(SLANEY_LOG_STEP * (mel - SLANEY_BREAK_MEL));
}

/**
 * `count` frequencies equally spaced in Slaney mel between `fMinHz` and `fMaxHz` inclusive
 * (librosa's `mel_frequencies`).
 *
 * @returns Hz, shape [count], ascending.
 */
export function melFrequencies(count: number, fMinHz: number, fMaxHz: number): Float64Array {
  if (!Number.isInteger(count) || count < 2) throw new Error(`need at least 2 mel frequencies, got ${count}`);
  const lo = hzToMelSlaney(fMinHz);
  const hi = hzToMelSlaney(fMaxHz);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = melToHzSlaney(lo + ((hi - lo) * i) / (count - 1));
  return out;
}

/** Configuration of a mel filterbank. */
export interface MelFilterbankConfig {
  /** Sample rate of the analysed signal, Hz. */
  readonly sampleRate: number;
  /** FFT size, samples (the filterbank has nFft/2 + 1 input bins). */
  readonly nFft: number;
  /** Number of mel bands, ≥ 1. */
  readonly nMels: number;
  /** Lower edge of the lowest band, Hz, ≥ 0. */
  readonly fMinHz: number;
  /** Upper edge of the highest band, Hz, ≤ sampleRate/2 in practice. */
  readonly fMaxHz: number;
}

/**
 * A mel filterbank. Stored sparsely, because each band is a triangle over a few bins: band m
 * covers bins `start[m]` … `start[m] + length(m) − 1`, whose weights are
 * `weights[offset[m] … offset[m+1] − 1]`.
 */
export interface MelFilterbank {
  readonly config: MelFilterbankConfig;
  /** Number of input bins, nFft/2 + 1. */
  readonly bins: number;
  /** Number of bands. */
  readonly nMels: number;
  /** Band edges and centres f_0 … f_{nMels+1}, Hz, shape [nMels + 2]. */
  readonly edgesHz: Float64Array;
  /** First non-zero bin of each band, shape [nMels]. */
  readonly start: Uint32Array;
  /** Offsets into `weights`, shape [nMels + 1]. */
  readonly offset: Uint32Array;
  /** Non-zero weights of all bands, concatenated; area-normalised (1/Hz). */
  readonly weights: Float64Array;
}

/**
 * Builds the Slaney-normalised triangular mel filterbank, librosa's
 * `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney')`, computed in float64
 * (librosa returns float32; the difference is ~1e-7 relative).
 *
 * Band m rises linearly from f_m to f_{m+1} and falls to f_{m+2}, evaluated at the bin centre
 * frequencies k·sampleRate/nFft, then is scaled by 2/(f_{m+2} − f_m).
 */
export function melFilterbank(config: MelFilterbankConfig): MelFilterbank {
  const { sampleRate, nFft, nMels, fMinHz, fMaxHz } = config;
  if (!(sampleRate > 0)) throw new Error(`sample rate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(nFft) || nFft < 2 || nFft % 2 !== 0) throw new Error(`nFft must be an even integer ≥ 2, got ${nFft}`);
  if (!Number.isInteger(nMels) || nMels < 1) throw new Error(`nMels must be a positive integer, got ${nMels}`);
  if (!(fMinHz >= 0 && fMaxHz > fMinHz)) throw new Error(`need 0 ≤ fMinHz < fMaxHz, got ${fMinHz}, ${fMaxHz}`);
  const bins = nFft / 2 + 1;
  const edges = melFrequencies(nMels + 2, fMinHz, fMaxHz);
  const start = new Uint32Array(nMels);
  const offset = new Uint32Array(nMels + 1);
  const all: number[] = [];
  for (let m = 0; m < nMels; m++) {
    const lo = edges[m];
    const mid = edges[m + 1];
    const hi = edges[m + 2];
    const enorm = 2 / (hi - lo);
    let first = -1;
    const band: number[] = [];
    for (let k = 0; k < bins; k++) {
      const f = (k * sampleRate) / nFft;
      // librosa's form: min of the rising and the falling ramp, floored at 0.
      const rise = (f - lo) / (mid - lo);
      const fall = (hi - f) / (hi - mid);
      const w = Math.max(0, Math.min(rise, fall));
      if (w > 0) {
        if (first < 0) first = k;
        // Keep interior zeros (none occur for a triangle) so the run stays contiguous.
        while (first + band.length < k) band.push(0);
        band.push(w * enorm);
      }
    }
    // A band narrower than the bin spacing can miss every bin; librosa warns and keeps it empty.
    start[m] = first < 0 ? 0 : first;
    offset[m] = all.length;
    for (const w of band) all.push(w);
  }
  offset[nMels] = all.length;
  return { config: Object.freeze({ ...config }), bins, nMels, edgesHz: edges, start, offset, weights: Float64Array.from(all) };
}

/**
 * Applies a mel filterbank to one spectrum frame: out[m] = Σ_k W[m, k]·spectrum[k].
 *
 * @param fb the filterbank.
 * @param spectrum one frame, shape [bins] (power for a mel power spectrum).
 * @param out caller-owned, shape [nMels].
 * @param spectrumOffset index of the frame's bin 0 in `spectrum` (for row-major [frames, bins]).
 * @returns `out`.
 */
export function applyMelFilterbank(fb: MelFilterbank, spectrum: Float64Array, out: Float64Array, spectrumOffset = 0): Float64Array {
  if (spectrum.length < spectrumOffset + fb.bins) throw new Error(`spectrum too short: needs ${fb.bins} bins from ${spectrumOffset}`);
  if (out.length < fb.nMels) throw new Error(`out has length ${out.length}, needs ${fb.nMels}`);
  const { start, offset, weights } = fb;
  for (let m = 0; m < fb.nMels; m++) {
    let acc = 0;
    const base = spectrumOffset + start[m] - offset[m];
    for (let i = offset[m], end = offset[m + 1]; i < end; i++) acc += weights[i] * spectrum[base + i];
    out[m] = acc;
  }
  return out;
}

/**
 * The filterbank as a dense matrix, for tests and inspection.
 *
 * @returns row-major [nMels, bins].
 */
export function melFilterbankDense(fb: MelFilterbank): Float64Array {
  const dense = new Float64Array(fb.nMels * fb.bins);
  for (let m = 0; m < fb.nMels; m++) {
    for (let i = fb.offset[m]; i < fb.offset[m + 1]; i++) dense[m * fb.bins + fb.start[m] + i - fb.offset[m]] = fb.weights[i];
  }
  return dense;
}
