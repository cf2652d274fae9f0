/**
 * Analysis windows. Only the periodic Hann is needed: spec §5's STFT uses it, as librosa does
 * (`scipy.signal.get_window('hann', n, fftbins=True)`).
 */

/**
 * Periodic Hann window w[i] = 0.5 − 0.5·cos(2π·i/n), i = 0 … n−1.
 *
 * Periodic (denominator n, not n − 1) because it is one period of a raised cosine: shifted copies
 * at hop n/4 sum to a constant, and it is what librosa and scipy use for spectral analysis. The
 * symmetric variant (denominator n − 1) would change every STFT figure at the 1e-3 level.
 *
 * @param n window length, samples, positive integer.
 * @param out optional caller-owned buffer of length n.
 * @returns the window, shape [n], values in [0, 1], w[0] = 0, w[n/2] = 1 for even n.
 */
export function hannPeriodic(n: number, out?: Float64Array): Float64Array {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`window length must be a positive integer, got ${n}`);
  const w = out ?? new Float64Array(n);
  if (w.length !== n) throw new Error(`out has length ${w.length}, expected ${n}`);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}
