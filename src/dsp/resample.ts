/**
 * 48 kHz → 16 kHz decimation (synth-spec §3 step 4): the anti-alias FIR of antialias-taps.ts,
 * evaluated only at every third input position (polyphase), with the filter's group delay removed
 * so that output sample m lines up with input sample 3m.
 *
 * Why compensate the delay: the dataset's 16 kHz notes are compared sample-by-sample and frame-by-
 * frame with NSynth and with re-rendered candidates; an uncompensated 77-sample (1.6 ms) shift
 * would misplace onsets relative to the 48 kHz render's timeline. With an odd, symmetric filter the
 * delay is exactly M = (N − 1)/2 input samples, so the filter can be applied centred (zero-phase):
 *   y[m] = Σ_{k=0}^{N−1} h[k] · x[3m + M − k],   x[i] = 0 outside [0, n).
 *
 * Three implementations, one contract:
 * - {@link decimate3Reference}: plain JS with float64 accumulators; the truth the others are
 *   tested against.
 * - {@link decimate3Js}: JS, four outputs per pass over the taps, coefficient symmetry folded in.
 * - the WebAssembly SIMD kernel (decimate3-wasm.ts) behind {@link decimate3}, used when the
 *   runtime supports it.
 */
import { ANTIALIAS_TAPS } from './antialias-taps.ts';
import { createWasmDecimator, type Decimator } from './decimate3-wasm.ts';

/** Filter length, taps (odd). */
export const ANTIALIAS_NUM_TAPS = ANTIALIAS_TAPS.length;
/** Group delay of the filter, input samples at 48 kHz; removed by the decimators. */
export const ANTIALIAS_DELAY_SAMPLES = (ANTIALIAS_TAPS.length - 1) / 2;

/** Output length for an input of `n` samples: ⌈n / 3⌉ (input 3m for every m with 3m < n). */
export function decimate3Length(n: number): number {
  return Math.ceil(n / 3);
}

function checkArgs(input: Float32Array | Float64Array, out: Float32Array | undefined): Float32Array {
  if (!(input instanceof Float32Array || input instanceof Float64Array)) {
    throw new TypeError('decimate3: input must be a Float32Array or Float64Array');
  }
  const len = decimate3Length(input.length);
  if (out === undefined) return new Float32Array(len);
  if (!(out instanceof Float32Array)) throw new TypeError('decimate3: out must be a Float32Array');
  if (out.length !== len) throw new RangeError(`decimate3: out has length ${out.length}, expected ⌈${input.length}/3⌉ = ${len}`);
  if (out.buffer === input.buffer) throw new RangeError('decimate3: out must not share memory with input');
  return out;
}

/** Taps as float64 (they are float32 values; float64 keeps the JS accumulations exact-ish). */
const H = Float64Array.from(ANTIALIAS_TAPS, Math.fround);
const M = ANTIALIAS_DELAY_SAMPLES;

/**
 * Zero-padded float64 copy of the input: M zeros, x, M (+ slack) zeros. Padding once is cheaper
 * than bounds tests in the inner loop, and the copy leaves the caller's array untouched.
 */
function padded(input: Float32Array | Float64Array, slack: number): Float64Array {
  const xp = new Float64Array(input.length + 2 * M + slack);
  xp.set(input, M);
  return xp;
}

/**
 * Decimates by 3 with the anti-alias filter: the plain reference implementation.
 *
 * @param input samples at 48 kHz, any length n ≥ 0; not modified.
 * @param out optional caller-owned output, length exactly ⌈n/3⌉.
 * @returns samples at 16 kHz, length ⌈n/3⌉; out[m] is aligned with input[3m].
 */
export function decimate3Reference(input: Float32Array | Float64Array, out?: Float32Array): Float32Array {
  const y = checkArgs(input, out);
  const xp = padded(input, 0);
  // xp[i] = x[i − M], so x[3m + M − k] = xp[3m + 2M − k].
  for (let m = 0; m < y.length; m++) {
    let acc = 0;
    const base = 3 * m + 2 * M;
    for (let k = 0; k < H.length; k++) acc += H[k] * xp[base - k];
    y[m] = acc;
  }
  return y;
}

/**
 * Decimates by 3, JS fast path: symmetric taps folded (h[k] = h[N−1−k], so one multiply per pair)
 * and four outputs per sweep over the taps, so each coefficient load feeds four multiply-adds and
 * the accumulators stay in registers.
 *
 * @param input samples at 48 kHz, any length n ≥ 0; not modified.
 * @param out optional caller-owned output, length exactly ⌈n/3⌉.
 * @returns samples at 16 kHz, length ⌈n/3⌉; out[m] is aligned with input[3m].
 */
export function decimate3Js(input: Float32Array | Float64Array, out?: Float32Array): Float32Array {
  const y = checkArgs(input, out);
  const len = y.length;
  // Slack so the last group of four may run past ⌈n/3⌉ (those outputs are discarded).
  const xp = padded(input, 12);
  const h = H;
  const hm = h[M];
  const twoM = 2 * M;
  let m = 0;
  for (; m < len; m += 4) {
    // Output m reads xp[3m .. 3m + 2M]; centre at 3m + M.
    const b = 3 * m;
    let a0 = hm * xp[b + M];
    let a1 = hm * xp[b + M + 3];
    let a2 = hm * xp[b + M + 6];
    let a3 = hm * xp[b + M + 9];
    for (let k = 0; k < M; k++) {
      const c = h[k];
      const lo = b + k;
      const hi = b + twoM - k;
      a0 += c * (xp[lo] + xp[hi]);
      a1 += c * (xp[lo + 3] + xp[hi + 3]);
      a2 += c * (xp[lo + 6] + xp[hi + 6]);
      a3 += c * (xp[lo + 9] + xp[hi + 9]);
    }
    y[m] = a0;
    if (m + 1 < len) y[m + 1] = a1;
    if (m + 2 < len) y[m + 2] = a2;
    if (m + 3 < len) y[m + 3] = a3;
  }
  return y;
}

let wasmDecimator: Decimator | null | undefined;

/** The WebAssembly SIMD decimator, built on first use; null where SIMD is unavailable. */
export function getWasmDecimator(): Decimator | null {
  if (wasmDecimator === undefined) wasmDecimator = createWasmDecimator(Array.from(H));
  return wasmDecimator;
}

/**
 * Decimates 48 kHz audio to 16 kHz: anti-alias low-pass (0–7 kHz flat within ±0.1 dB, ≥ 80 dB
 * above 8 kHz), every third output only, group delay removed, edges zero-padded. Uses the
 * WebAssembly SIMD kernel when available (float32 arithmetic; agrees with
 * {@link decimate3Reference} to ~1e-6), otherwise {@link decimate3Js}.
 *
 * @param input samples at 48 kHz, any length n ≥ 0; not modified. 192 000 → 64 000.
 * @param out optional caller-owned output, length exactly ⌈n/3⌉, not aliasing `input`.
 * @returns samples at 16 kHz, length ⌈n/3⌉; out[m] is aligned with input[3m].
 */
export function decimate3(input: Float32Array | Float64Array, out?: Float32Array): Float32Array {
  const y = checkArgs(input, out);
  const w = getWasmDecimator();
  if (w === null) return decimate3Js(input, y);
  w.run(input, y);
  return y;
}
