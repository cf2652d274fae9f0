/**
 * Benchmark of spec §5's distances as the NSynth evaluator uses them: one note against three
 * candidates (resynthesis + two baselines), i.e. one `prepareReference` and three `compare`s.
 * Synthetic signals (a decaying harmonic tone, a detuned one, two sines) so no file is read.
 *
 * CLI: `npx tsx bench/distances.ts [runs]` prints the figures as JSON.
 */
import { pathToFileURL } from 'node:url';
import { RealFftPlan } from '../src/dsp/fft.ts';
import { DistanceCalculator, SIGNAL_SAMPLES, FFT_DISTANCE_SIZE } from '../src/features/distances.ts';
import { pitchedSineBaseline, sine440Baseline } from '../src/eval/baselines.ts';

/** Timings, all medians over `runs`, in milliseconds unless the name says µs. */
export interface DistanceBenchResult {
  readonly runs: number;
  /** One 2048-point magnitude spectrum, µs. */
  readonly fft2048Us: number;
  /** One 65 536-point magnitude spectrum (the FFT distance), ms. */
  readonly fft65536Ms: number;
  /** Preparing a reference: preparation, |rfft|, STFT [126, 1025] and log-mel [126, 128], ms. */
  readonly prepareReferenceMs: number;
  /** One candidate against a prepared reference: all four distances, ms. */
  readonly compareMs: number;
  /** One note against 3 candidates: prepareReference + 3 × compare, ms. */
  readonly notePlus3CandidatesMs: number;
  /** notePlus3CandidatesMs × 4 096 (the NSynth test split) on one core, s. */
  readonly projectedNsynthTestSec: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

function harmonicTone(hz: number, length: number): Float64Array {
  const out = new Float64Array(length);
  for (let n = 0; n < length; n++) {
    const t = n / 16000;
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(2 * Math.PI * h * hz * t) / h;
    out[n] = Math.exp(-1.5 * t) * v;
  }
  return out;
}

/**
 * Times the distances (median of `runs` after `warmup` unmeasured runs).
 *
 * @param runs measured repetitions, ≥ 1; default 15.
 * @param warmup unmeasured repetitions first (JIT); default 3.
 */
export function benchDistances(runs = 15, warmup = 3): DistanceBenchResult {
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`);
  const note = harmonicTone(220, SIGNAL_SAMPLES);
  const calc = new DistanceCalculator();
  const ref0 = calc.prepareReference(note);
  const candidates = [harmonicTone(221, SIGNAL_SAMPLES), sine440Baseline(), pitchedSineBaseline(ref0.signal, 57)];

  const small = new RealFftPlan(2048);
  const smallIn = note.subarray(0, 2048);
  const smallOut = new Float64Array(small.bins);
  const big = new RealFftPlan(FFT_DISTANCE_SIZE);
  const bigOut = new Float64Array(big.bins);

  const fft2048: number[] = [];
  const fft65536: number[] = [];
  const prep: number[] = [];
  const cmp: number[] = [];
  const total: number[] = [];
  const inner = 200;
  for (let r = 0; r < warmup + runs; r++) {
    let t0 = performance.now();
    for (let i = 0; i < inner; i++) small.magnitude(smallIn, smallOut);
    const tFft = ((performance.now() - t0) / inner) * 1000;
    t0 = performance.now();
    big.magnitude(ref0.signal, bigOut);
    const tBig = performance.now() - t0;
    t0 = performance.now();
    const ref = calc.prepareReference(note);
    const t1 = performance.now();
    for (const c of candidates) calc.compare(ref, c);
    const t2 = performance.now();
    if (r < warmup) continue;
    fft2048.push(tFft);
    fft65536.push(tBig);
    prep.push(t1 - t0);
    cmp.push((t2 - t1) / candidates.length);
    total.push(t2 - t0);
  }
  const notePlus3 = median(total);
  return {
    runs,
    fft2048Us: median(fft2048),
    fft65536Ms: median(fft65536),
    prepareReferenceMs: median(prep),
    compareMs: median(cmp),
    notePlus3CandidatesMs: notePlus3,
    projectedNsynthTestSec: (notePlus3 * 4096) / 1000,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(JSON.stringify(benchDistances(runs), null, 2));
}
