/**
 * A real-input FFT for power-of-two sizes, tuned for the evaluator's hot loop (126 STFT frames of
 * 2048 points per signal, ~16 000 signals per NSynth test run).
 *
 * How: a real sequence of length N is packed into a complex sequence of length N/2
 * (z[n] = x[2n] + i·x[2n+1]), transformed by an iterative decimation-in-time complex FFT
 * whose first two stages are fused into one twiddle-free radix-4 pass, and split back into the
 * N/2 + 1 non-negative-frequency bins of x. That halves the work of a complex FFT of size N.
 * The remaining stages run as radix-4 passes (plus one radix-2 pass when their count is odd).
 * All twiddles and the bit-reversal table are computed once per plan (in float64, from
 * `Math.cos`/`Math.sin` of the exact angle, not by recurrence, so errors do not accumulate), and
 * the bit-reversal permutation is folded into the packing load, so there is no swap pass.
 *
 * Sign convention: X[k] = Σ_n x[n]·exp(−2πi·k·n/N), unnormalised (numpy's `rfft`).
 */

/** Any array of samples the plan accepts as input. */
export type RealInput = Float32Array | Float64Array;

/** True when `n` is a positive integer power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * A reusable plan for real FFTs of one size. Holds its tables and one scratch buffer, so a plan
 * is not re-entrant: use one plan per concurrent caller (JS is single-threaded, so in practice
 * one per worker). Output buffers are always the caller's.
 */
export class RealFftPlan {
  /** Transform size N, samples; a power of two ≥ 4. */
  readonly size: number;
  /** Number of output bins, N/2 + 1 (DC … Nyquist). */
  readonly bins: number;
  /** Half size M = N/2: the length of the packed complex transform. */
  private readonly half: number;
  /** Bit-reversal permutation of 0 … M−1 (log2 M bits). */
  private readonly rev: Uint32Array;
  /**
   * Twiddles of the radix-4 passes: for the pass that merges four spans of h into one of 4h,
   * W^p = exp(−2πi·p·j/(4h)) for p = 1, 2, 3 at index h + j (j = 0 … h−1), so each pass reads
   * contiguous runs. Length M (entries of unused h stay zero).
   */
  private readonly w1c: Float64Array;
  private readonly w1s: Float64Array;
  private readonly w2c: Float64Array;
  private readonly w2s: Float64Array;
  private readonly w3c: Float64Array;
  private readonly w3s: Float64Array;
  /** Span h of the single radix-2 pass needed when log2 M is odd, else 0. */
  private readonly radix2Span: number;
  /** Split twiddles cos/sin(2π·k/N), k = 0 … M, for unpacking the real spectrum. */
  private readonly splitCos: Float64Array;
  private readonly splitSin: Float64Array;
  /** Scratch: the packed complex sequence, real and imaginary parts, length M each. */
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  /**
   * @param size transform size N, samples; a power of two, 4 … 2^24.
   */
  constructor(size: number) {
    if (!isPowerOfTwo(size) || size < 4 || size > 1 << 24) {
      throw new Error(`FFT size must be a power of two in 4 … 2^24, got ${size}`);
    }
    this.size = size;
    this.bins = size / 2 + 1;
    const m = size / 2;
    this.half = m;
    const bits = Math.round(Math.log2(m));
    this.rev = new Uint32Array(m);
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0, v = i; b < bits; b++, v >>>= 1) r = (r << 1) | (v & 1);
      this.rev[i] = r;
    }
    // After the fused span-4 pass, log2(M) − 2 radix-2 stages remain; pair them into radix-4
    // passes (3 complex multiplications per 4 points instead of 4, half the memory traffic) and,
    // if their count is odd, run one radix-2 pass first, at span 4 → 8, where it is cheapest.
    const remaining = Math.max(bits - 2, 0);
    this.radix2Span = remaining % 2 === 1 ? 4 : 0;
    this.w1c = new Float64Array(m);
    this.w1s = new Float64Array(m);
    this.w2c = new Float64Array(m);
    this.w2s = new Float64Array(m);
    this.w3c = new Float64Array(m);
    this.w3s = new Float64Array(m);
    if (this.radix2Span !== 0) {
      // exp(−2πi·j/8), j = 0 … 3, stored as W^2 of a notional radix-4 pass at h = 4.
      for (let j = 0; j < 4; j++) {
        const a = (-2 * Math.PI * j) / 8;
        this.w2c[4 + j] = Math.cos(a);
        this.w2s[4 + j] = Math.sin(a);
      }
    }
    for (let h = this.radix2Span === 0 ? 4 : 8; h < m; h <<= 2) {
      for (let j = 0; j < h; j++) {
        const a = (-2 * Math.PI * j) / (4 * h);
        this.w1c[h + j] = Math.cos(a);
        this.w1s[h + j] = Math.sin(a);
        this.w2c[h + j] = Math.cos(2 * a);
        this.w2s[h + j] = Math.sin(2 * a);
        this.w3c[h + j] = Math.cos(3 * a);
        this.w3s[h + j] = Math.sin(3 * a);
      }
    }
    this.splitCos = new Float64Array(m + 1);
    this.splitSin = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      const a = (2 * Math.PI * k) / size;
      this.splitCos[k] = Math.cos(a);
      this.splitSin[k] = Math.sin(a);
    }
    this.re = new Float64Array(m);
    this.im = new Float64Array(m);
  }

  /**
   * Complex spectrum of a real signal.
   *
   * @param input samples, length ≤ N; shorter input is zero-padded to N (not mutated).
   * @param outRe real parts, length ≥ N/2 + 1 (bins 0 … N/2), caller-owned.
   * @param outIm imaginary parts, length ≥ N/2 + 1, caller-owned.
   */
  forward(input: RealInput, outRe: Float64Array, outIm: Float64Array): void {
    this.checkOut(outRe, 'outRe');
    this.checkOut(outIm, 'outIm');
    this.transformPacked(input);
    const m = this.half;
    const re = this.re;
    const im = this.im;
    const wc = this.splitCos;
    const ws = this.splitSin;
    outRe[0] = re[0] + im[0];
    outIm[0] = 0;
    outRe[m] = re[0] - im[0];
    outIm[m] = 0;
    for (let k = 1; k < m; k++) {
      const ar = re[k];
      const ai = im[k];
      const br = re[m - k];
      const bi = -im[m - k];
      // E = (A + conj B)/2 is the even samples' spectrum, O = (A − conj B)/(2i) the odd ones'.
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      // X[k] = E + exp(−2πik/N)·O; exp(−iθ) = cos θ − i sin θ.
      const c = wc[k];
      const s = ws[k];
      outRe[k] = er + c * or + s * oi;
      outIm[k] = ei + c * oi - s * or;
    }
  }

  /**
   * Magnitude spectrum |X[k]| of a real signal.
   *
   * @param input samples, length ≤ N; shorter input is zero-padded (not mutated).
   * @param out magnitudes, length ≥ N/2 + 1, caller-owned; linear amplitude, unnormalised.
   * @returns `out`.
   */
  magnitude(input: RealInput, out: Float64Array): Float64Array {
    this.spectrumMagnitudeOrPower(input, out, false);
    return out;
  }

  /**
   * Power spectrum |X[k]|² of a real signal.
   *
   * @param input samples, length ≤ N; shorter input is zero-padded (not mutated).
   * @param out powers, length ≥ N/2 + 1, caller-owned; squared linear amplitude, unnormalised.
   * @returns `out`.
   */
  power(input: RealInput, out: Float64Array): Float64Array {
    this.spectrumMagnitudeOrPower(input, out, true);
    return out;
  }

  /**
   * Magnitude spectrum of a windowed slice of a longer signal, |FFT(signal[start + i]·window[i])|
   * for i = 0 … N−1, without copying the slice first (the STFT's inner loop: this saves a pass
   * over every frame).
   *
   * @param signal samples (not mutated); start … start + N − 1 must lie inside it.
   * @param start index of the slice's first sample.
   * @param window weights, shape [N].
   * @param out magnitudes, length ≥ N/2 + 1, caller-owned.
   * @returns `out`.
   */
  windowedMagnitude(signal: RealInput, start: number, window: Float64Array, out: Float64Array): Float64Array {
    this.checkOut(out, 'out');
    const n = this.size;
    if (window.length !== n) throw new Error(`window has length ${window.length}, expected ${n}`);
    if (!Number.isInteger(start) || start < 0 || start + n > signal.length) {
      throw new Error(`slice ${start} … ${start + n - 1} is outside the signal of ${signal.length} samples`);
    }
    const m = this.half;
    const re = this.re;
    const im = this.im;
    const rev = this.rev;
    for (let i = 0; i < m; i++) {
      const r = rev[i] << 1;
      re[i] = signal[start + r] * window[r];
      im[i] = signal[start + r + 1] * window[r + 1];
    }
    this.transformLoaded();
    this.unpackMagnitudeOrPower(out, false);
    return out;
  }

  private spectrumMagnitudeOrPower(input: RealInput, out: Float64Array, squared: boolean): void {
    this.checkOut(out, 'out');
    this.transformPacked(input);
    this.unpackMagnitudeOrPower(out, squared);
  }

  /** Splits the transformed packed sequence into bins 0 … N/2 and writes |X| or |X|². */
  private unpackMagnitudeOrPower(out: Float64Array, squared: boolean): void {
    const m = this.half;
    const re = this.re;
    const im = this.im;
    const wc = this.splitCos;
    const ws = this.splitSin;
    const dc = re[0] + im[0];
    const ny = re[0] - im[0];
    out[0] = squared ? dc * dc : Math.abs(dc);
    out[m] = squared ? ny * ny : Math.abs(ny);
    for (let k = 1; k < m; k++) {
      const ar = re[k];
      const ai = im[k];
      const br = re[m - k];
      const bi = -im[m - k];
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const c = wc[k];
      const s = ws[k];
      const xr = er + c * or + s * oi;
      const xi = ei + c * oi - s * or;
      const p = xr * xr + xi * xi;
      out[k] = squared ? p : Math.sqrt(p);
    }
  }

  private checkOut(out: Float64Array, name: string): void {
    if (out.length < this.bins) throw new Error(`${name} has length ${out.length}, needs ≥ ${this.bins} bins`);
  }

  /** Packs `input` (bit-reversed) into re/im and runs the complex FFT of size M in place. */
  private transformPacked(input: RealInput): void {
    const n = this.size;
    const m = this.half;
    const len = input.length;
    if (len > n) throw new Error(`input has ${len} samples, more than the FFT size ${n}`);
    const re = this.re;
    const im = this.im;
    const rev = this.rev;
    if (len === n) {
      for (let i = 0; i < m; i++) {
        const r = rev[i] << 1;
        re[i] = input[r];
        im[i] = input[r + 1];
      }
    } else {
      for (let i = 0; i < m; i++) {
        const r = rev[i] << 1;
        re[i] = r < len ? input[r] : 0;
        im[i] = r + 1 < len ? input[r + 1] : 0;
      }
    }
    this.transformLoaded();
  }

  /** The complex FFT of size M, in place on re/im, which hold the bit-reversed packed input. */
  private transformLoaded(): void {
    const m = this.half;
    const re = this.re;
    const im = this.im;
    if (m === 2) {
      // A single radix-2 butterfly: no radix-4 pass fits.
      const r0 = re[0];
      const i0 = im[0];
      re[0] = r0 + re[1];
      im[0] = i0 + im[1];
      re[1] = r0 - re[1];
      im[1] = i0 - im[1];
      return;
    }
    // Stages of span 2 and 4 fused: their twiddles are 1 and −i, so no multiplications.
    for (let s = 0; s < m; s += 4) {
      const ar = re[s];
      const ai = im[s];
      const br = re[s + 1];
      const bi = im[s + 1];
      const cr = re[s + 2];
      const ci = im[s + 2];
      const dr = re[s + 3];
      const di = im[s + 3];
      const t0r = ar + br;
      const t0i = ai + bi;
      const t1r = ar - br;
      const t1i = ai - bi;
      const t2r = cr + dr;
      const t2i = ci + di;
      const t3r = cr - dr;
      const t3i = ci - di;
      re[s] = t0r + t2r;
      im[s] = t0i + t2i;
      re[s + 2] = t0r - t2r;
      im[s + 2] = t0i - t2i;
      // (−i)·t3 = (t3i, −t3r)
      re[s + 1] = t1r + t3i;
      im[s + 1] = t1i - t3r;
      re[s + 3] = t1r - t3i;
      im[s + 3] = t1i + t3r;
    }
    let h = 4;
    if (this.radix2Span !== 0 && m > 4) {
      // One radix-2 pass, span 4 → 8; twiddles exp(−2πi·j/8) kept in w2 at index 4 + j.
      const wc = this.w2c;
      const ws = this.w2s;
      for (let s = 0; s < m; s += 8) {
        for (let j = 0; j < 4; j++) {
          const wr = wc[4 + j];
          const wi = ws[4 + j];
          const p = s + j;
          const q = p + 4;
          const qr = re[q];
          const qi = im[q];
          const tr = wr * qr - wi * qi;
          const ti = wr * qi + wi * qr;
          const pr = re[p];
          const pi = im[p];
          re[q] = pr - tr;
          im[q] = pi - ti;
          re[p] = pr + tr;
          im[p] = pi + ti;
        }
      }
      h = 8;
    }
    const w1c = this.w1c;
    const w1s = this.w1s;
    const w2c = this.w2c;
    const w2s = this.w2s;
    const w3c = this.w3c;
    const w3s = this.w3s;
    // Radix-4 DIT on bit-reversed data: the four spans of h at p, p+h, p+2h, p+3h hold the
    // sub-transforms a, b, c, d with X = a + W²b + W c + W³d (and its three rotations).
    for (; h < m; h <<= 2) {
      const span = h << 2;
      for (let s = 0; s < m; s += span) {
        for (let j = 0; j < h; j++) {
          const t = h + j;
          const i0 = s + j;
          const i1 = i0 + h;
          const i2 = i1 + h;
          const i3 = i2 + h;
          const ar = re[i0];
          const ai = im[i0];
          let xr = re[i1];
          let xi = im[i1];
          let c = w2c[t];
          let sn = w2s[t];
          const br = c * xr - sn * xi;
          const bi = c * xi + sn * xr;
          xr = re[i2];
          xi = im[i2];
          c = w1c[t];
          sn = w1s[t];
          const cr = c * xr - sn * xi;
          const ci = c * xi + sn * xr;
          xr = re[i3];
          xi = im[i3];
          c = w3c[t];
          sn = w3s[t];
          const dr = c * xr - sn * xi;
          const di = c * xi + sn * xr;
          const s0r = ar + br;
          const s0i = ai + bi;
          const d0r = ar - br;
          const d0i = ai - bi;
          const s1r = cr + dr;
          const s1i = ci + di;
          const d1r = cr - dr;
          const d1i = ci - di;
          re[i0] = s0r + s1r;
          im[i0] = s0i + s1i;
          re[i2] = s0r - s1r;
          im[i2] = s0i - s1i;
          // B = d0 − i·d1, D = d0 + i·d1; −i·(x + iy) = y − ix.
          re[i1] = d0r + d1i;
          im[i1] = d0i - d1r;
          re[i3] = d0r - d1i;
          im[i3] = d0i + d1r;
        }
      }
    }
  }
}
