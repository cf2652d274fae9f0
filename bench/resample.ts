/**
 * Benchmark of the 48 kHz → 16 kHz decimator variants on one 4 s note (192 000 samples).
 * Run: `npx tsx bench/resample.ts` (prints JSON). Medians after warm-up, because the machine is
 * shared and single runs are noisy.
 */
import { fileURLToPath } from 'node:url';
import { ANTIALIAS_NUM_TAPS, decimate3, decimate3Js, decimate3Reference } from '../src/dsp/resample.ts';
import { ANTIALIAS_TAPS } from '../src/dsp/antialias-taps.ts';
import { createWasmDecimator } from '../src/dsp/decimate3-wasm.ts';
import { timeRuns } from './timing.ts';

/** One variant's timing, milliseconds per 192 000-sample call. */
export interface VariantTiming {
  readonly name: string;
  readonly msPerCall: number;
  readonly msMin: number;
  readonly runs: number;
}

/** Result of {@link benchResample}. */
export interface ResampleBench {
  /** Median ms per call of the production path, `decimate3` (float32 input). */
  readonly msPerCall: number;
  /** Filter length, taps. */
  readonly taps: number;
  readonly inputSamples: number;
  readonly outputSamples: number;
  /** Every variant measured. */
  readonly variants: readonly VariantTiming[];
}

function time(name: string, fn: () => void, runs: number, warmup: number): VariantTiming {
  const t = timeRuns(fn, runs, warmup);
  return { name, msPerCall: t.medianMs, msMin: t.minMs, runs };
}

/**
 * Times each decimator variant on 192 000 samples of deterministic noise.
 *
 * @param runs timed calls per variant (≥ 20); the slow reference gets at most 20.
 */
export function benchResample(runs = 41): ResampleBench {
  const n = 192_000;
  const x64 = new Float64Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x64[i] = (s / 2 ** 32) * 2 - 1;
  }
  const x32 = Float32Array.from(x64);
  const out = new Float32Array(n / 3);
  const taps = Array.from(ANTIALIAS_TAPS, Math.fround);
  const variants: VariantTiming[] = [
    time('js reference (float64, direct)', () => decimate3Reference(x32, out), Math.min(runs, 21), 3),
    time('js blocked ×4, folded symmetry', () => decimate3Js(x32, out), runs, 5),
  ];
  for (const b of [1, 2, 4, 8]) {
    const d = createWasmDecimator(taps, b);
    if (d !== null) variants.push(time(`wasm simd, ${4 * b} outputs/pass`, () => d.run(x32, out), runs, 10));
  }
  const prod32 = time('decimate3 (wasm, float32 input)', () => decimate3(x32, out), runs, 10);
  const prod64 = time('decimate3 (wasm, float64 input)', () => decimate3(x64, out), runs, 10);
  variants.push(prod32, prod64);
  return { msPerCall: prod32.msPerCall, taps: ANTIALIAS_NUM_TAPS, inputSamples: n, outputSamples: n / 3, variants };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(benchResample(), null, 2));
}
