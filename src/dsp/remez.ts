/**
 * Parks–McClellan (Remez exchange) design of linear-phase FIR filters with piecewise-constant
 * desired response, for the odd-length symmetric case (type I) only: that is the only case the
 * resampler needs, because an odd length gives an integer group delay that can be compensated
 * exactly. Pure maths, no I/O.
 *
 * The algorithm follows Parks & McClellan (1972) / McClellan, Parks & Rabiner (1973): the
 * amplitude response of a type I filter of length N = 2M + 1 is A(ω) = Σ_{k=0..M} a_k cos(kω),
 * a polynomial of degree M in x = cos ω. By the alternation theorem the minimax weighted error
 * is attained when the error alternates M + 2 times with equal magnitude δ, so each iteration
 * solves for δ on a reference set of M + 2 frequencies, interpolates A through M + 1 of them
 * (barycentric Lagrange in x, which is well conditioned where the classic monomial solve is not),
 * and moves the reference set to the local extrema of the error on a dense grid.
 */

/** One band of the specification: edges in cycles/sample (0 ≤ low < high ≤ 0.5). */
export interface RemezBand {
  /** Lower edge, cycles/sample. */
  readonly low: number;
  /** Upper edge, cycles/sample. */
  readonly high: number;
  /** Desired amplitude in the band (e.g. 1 for a passband, 0 for a stopband). */
  readonly desired: number;
  /** Error weight in the band (positive); the weighted error W·(D − A) is what gets equalised. */
  readonly weight: number;
}

/** Options for {@link remez}. */
export interface RemezOptions {
  /** Grid points per (M + 1) over the whole [0, 0.5]; 16 is the classic default. */
  readonly gridDensity?: number;
  /** Iteration cap; designs of ~200 taps converge in 5–15 iterations. */
  readonly maxIterations?: number;
}

/** Result of {@link remez}. */
export interface RemezDesign {
  /** Impulse response, length N, symmetric: h[n] = h[N − 1 − n]. */
  readonly taps: Float64Array;
  /** Final weighted equiripple error |δ|: the band error is δ / weight. */
  readonly deviation: number;
  /** Exchange iterations used. */
  readonly iterations: number;
  /** Whether the exchange converged (max grid error within 1e-6 relative of |δ|). */
  readonly converged: boolean;
  /** Final reference (extremal) frequencies, cycles/sample, ascending; length M + 2. */
  readonly extremalFrequencies: Float64Array;
}

/**
 * Designs an odd-length linear-phase FIR filter by the Remez exchange algorithm.
 *
 * @param numTaps filter length N, odd, ≥ 3.
 * @param bands disjoint, ascending bands; edges in cycles/sample within [0, 0.5].
 * @param options grid density and iteration cap.
 * @returns the taps (length N) and the achieved weighted deviation.
 */
export function remez(numTaps: number, bands: readonly RemezBand[], options: RemezOptions = {}): RemezDesign {
  if (!Number.isInteger(numTaps) || numTaps < 3 || numTaps % 2 === 0) {
    throw new Error(`remez: numTaps must be an odd integer ≥ 3 (type I), got ${numTaps}`);
  }
  if (bands.length === 0) throw new Error('remez: at least one band is required');
  for (let b = 0; b < bands.length; b++) {
    const { low, high, weight } = bands[b];
    if (!(low >= 0 && high <= 0.5 && low < high)) throw new Error(`remez: band ${b} edges must satisfy 0 ≤ low < high ≤ 0.5`);
    if (!(weight > 0)) throw new Error(`remez: band ${b} weight must be positive`);
    if (b > 0 && !(low > bands[b - 1].high)) throw new Error(`remez: bands must be ascending and disjoint (band ${b})`);
  }
  const gridDensity = options.gridDensity ?? 16;
  const maxIterations = options.maxIterations ?? 100;
  const m = (numTaps - 1) / 2; // polynomial degree
  const r = m + 2; // size of the reference set

  // Dense grid. Band edges are always grid points, because the extrema of an equiripple design
  // sit on them.
  const step = 0.5 / (gridDensity * (m + 1));
  const freq: number[] = [];
  const bandOf: number[] = [];
  for (let b = 0; b < bands.length; b++) {
    const { low, high } = bands[b];
    const count = Math.max(2, Math.ceil((high - low) / step) + 1);
    for (let i = 0; i < count; i++) {
      freq.push(i === count - 1 ? high : low + ((high - low) * i) / (count - 1));
      bandOf.push(b);
    }
  }
  const g = freq.length;
  if (g < r) throw new Error(`remez: grid of ${g} points is too coarse for ${numTaps} taps`);
  const gridX = new Float64Array(g);
  const gridD = new Float64Array(g);
  const gridW = new Float64Array(g);
  for (let i = 0; i < g; i++) {
    gridX[i] = Math.cos(2 * Math.PI * freq[i]);
    gridD[i] = bands[bandOf[i]].desired;
    gridW[i] = bands[bandOf[i]].weight;
  }

  // Initial reference: evenly spread over the grid.
  let ext: Int32Array = new Int32Array(r);
  for (let i = 0; i < r; i++) ext[i] = Math.round((i * (g - 1)) / (r - 1));

  const err = new Float64Array(g);
  let delta = 0;
  let interp = makeInterpolant(ext, gridX, gridD, gridW, (d) => (delta = d));
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIterations; ) {
    iterations++;
    let maxErr = 0;
    for (let i = 0; i < g; i++) {
      err[i] = gridW[i] * (gridD[i] - interp(gridX[i]));
      maxErr = Math.max(maxErr, Math.abs(err[i]));
    }
    const absDelta = Math.abs(delta);
    if (maxErr <= absDelta * (1 + 1e-6)) {
      converged = true;
      break;
    }
    const next = exchange(err, bandOf, absDelta, r);
    if (next === null) break; // too few alternations: cannot improve (grid too coarse)
    let same = true;
    for (let i = 0; i < r; i++) if (next[i] !== ext[i]) same = false;
    ext = next;
    if (same) {
      converged = true;
      break;
    }
    interp = makeInterpolant(ext, gridX, gridD, gridW, (d) => (delta = d));
  }

  // Impulse response from N uniform samples of A (an inverse DFT of a real, even spectrum); the
  // samples are exact evaluations of the degree-M polynomial, so this inversion is exact.
  const ampl = new Float64Array(m + 1);
  for (let j = 0; j <= m; j++) ampl[j] = interp(Math.cos((2 * Math.PI * j) / numTaps));
  const taps = new Float64Array(numTaps);
  for (let n = 0; n <= m; n++) {
    let s = ampl[0];
    for (let j = 1; j <= m; j++) s += 2 * ampl[j] * Math.cos((2 * Math.PI * j * (n - m)) / numTaps);
    taps[n] = s / numTaps;
    taps[numTaps - 1 - n] = taps[n];
  }
  const extremalFrequencies = new Float64Array(r);
  for (let i = 0; i < r; i++) extremalFrequencies[i] = freq[ext[i]];
  return { taps, deviation: Math.abs(delta), iterations, converged, extremalFrequencies };
}

/**
 * Barycentric weights 1/Π_{j≠i}(x_i − x_j), scaled by a common factor (which both barycentric
 * formulas cancel). Computed through logarithms because the raw products under/overflow for
 * reference sets of more than a few dozen points.
 */
function barycentricWeights(x: Float64Array): Float64Array {
  const n = x.length;
  const logs = new Float64Array(n);
  const signs = new Float64Array(n);
  let maxLog = -Infinity;
  for (let i = 0; i < n; i++) {
    let lg = 0;
    let sg = 1;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = x[i] - x[j];
      lg -= Math.log(Math.abs(d));
      if (d < 0) sg = -sg;
    }
    logs[i] = lg;
    signs[i] = sg;
    if (lg > maxLog) maxLog = lg;
  }
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = signs[i] * Math.exp(logs[i] - maxLog);
  return w;
}

/**
 * Solves for δ on the reference set and returns A(x), the degree-M polynomial through the values
 * D_i − (−1)^i δ / W_i at the first M + 1 reference points.
 */
function makeInterpolant(
  ext: Int32Array,
  gridX: Float64Array,
  gridD: Float64Array,
  gridW: Float64Array,
  setDelta: (d: number) => void,
): (x: number) => number {
  const r = ext.length;
  const xr = new Float64Array(r);
  for (let i = 0; i < r; i++) xr[i] = gridX[ext[i]];
  const wAll = barycentricWeights(xr);
  let num = 0;
  let den = 0;
  for (let i = 0; i < r; i++) {
    num += wAll[i] * gridD[ext[i]];
    den += ((i % 2 === 0 ? 1 : -1) * wAll[i]) / gridW[ext[i]];
  }
  const delta = num / den;
  setDelta(delta);
  const n = r - 1;
  const xs = xr.subarray(0, n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) ys[i] = gridD[ext[i]] - ((i % 2 === 0 ? 1 : -1) * delta) / gridW[ext[i]];
  const w = barycentricWeights(Float64Array.from(xs));
  return (x: number): number => {
    let p = 0;
    let q = 0;
    for (let i = 0; i < n; i++) {
      const d = x - xs[i];
      if (d === 0) return ys[i];
      const t = w[i] / d;
      p += t * ys[i];
      q += t;
    }
    return p / q;
  };
}

/**
 * The exchange step: the new reference set is the local extrema of the weighted error with
 * |E| ≥ |δ|, thinned to alternate in sign, then trimmed to r points by dropping whichever end
 * has the smaller error (dropping an end keeps the alternation). Returns null when fewer than r
 * alternating extrema exist.
 */
function exchange(err: Float64Array, bandOf: readonly number[], absDelta: number, r: number): Int32Array | null {
  const g = err.length;
  // A hair below |δ|: the reference points themselves have |E| = |δ| only up to rounding.
  const threshold = absDelta * (1 - 1e-6);
  const cand: number[] = [];
  for (let i = 0; i < g; i++) {
    const e = err[i];
    if (Math.abs(e) < threshold) continue;
    const s = e >= 0 ? 1 : -1;
    const leftOk = i === 0 || bandOf[i - 1] !== bandOf[i] || s * e >= s * err[i - 1];
    const rightOk = i === g - 1 || bandOf[i + 1] !== bandOf[i] || s * e >= s * err[i + 1];
    if (leftOk && rightOk) cand.push(i);
  }
  // Alternation: of consecutive same-sign extrema keep the larger.
  const alt: number[] = [];
  for (const i of cand) {
    const last = alt.length - 1;
    if (last >= 0 && Math.sign(err[alt[last]]) === Math.sign(err[i])) {
      if (Math.abs(err[i]) > Math.abs(err[alt[last]])) alt[last] = i;
    } else {
      alt.push(i);
    }
  }
  if (alt.length < r) return null;
  let lo = 0;
  let hi = alt.length - 1;
  while (hi - lo + 1 > r) {
    if (Math.abs(err[alt[lo]]) < Math.abs(err[alt[hi]])) lo++;
    else hi--;
  }
  return Int32Array.from(alt.slice(lo, hi + 1));
}

/**
 * Amplitude response of a linear-phase (symmetric, odd-length) FIR at one frequency, i.e. the
 * real-valued H(e^{jω})·e^{jωM}. Used by designers and tests to measure taps on a dense grid.
 *
 * @param taps symmetric impulse response, odd length N = 2M + 1.
 * @param cyclesPerSample frequency in cycles/sample, [0, 0.5].
 */
export function symmetricAmplitude(taps: ArrayLike<number>, cyclesPerSample: number): number {
  const m = (taps.length - 1) / 2;
  const w = 2 * Math.PI * cyclesPerSample;
  let s = taps[m];
  for (let k = 1; k <= m; k++) s += (taps[m - k] + taps[m + k]) * Math.cos(k * w);
  return s;
}
