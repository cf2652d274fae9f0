/**
 * Benchmark of `eval-nsynth --refine`: the cost of one search step (render a candidate patch at
 * 48 kHz, decimate, and measure its FFT, STFT and log-mel distances against a prepared note), on
 * one core, and what that makes per note.
 *
 * CLI: `npx tsx bench/refine.ts [runs]` prints the figures as JSON.
 */
import { pathToFileURL } from 'node:url';
import { DEFAULT_DATASET_CONFIG } from '../src/dataset/config.ts';
import { makeNoteEvaluator, renderSnapped } from '../src/eval/resynth.ts';
import { NoteScratch } from '../src/synth/note.ts';
import { renderOptionsOf } from '../src/dataset/patch-file.ts';
import { timeRuns } from './timing.ts';

/** Timings (medians over runs), ms unless named otherwise. */
export interface RefineBenchResult {
  readonly runs: number;
  /** Renders per measured search. */
  readonly evaluationsPerRun: number;
  /** One search step: render + the three distances, ms (median over runs of a whole search / its steps). */
  readonly msPerEvaluation: number;
  /** The render alone (48 kHz voice + decimation to 16 kHz), ms. */
  readonly renderMs: number;
  /** A note at 400 renders on one core, s. */
  readonly secPerNoteAt400: number;
}

/**
 * Times searches of `evaluations` renders from a patch 200 cents off a note rendered from a
 * known patch.
 */
export function benchRefine(runs = 5, evaluations = 100): RefineBenchResult {
  const synth = DEFAULT_DATASET_CONFIG;
  const truth = [330, 1, 2, 1, 3, 1, 0.8, 1.5, 0.5, 1.2, 0.7, 0.03, 0.2, 0.6, 0.3];
  const start = truth.map((v, j) => (j === 0 ? v * 2 ** (200 / 1200) : v));
  const audio = renderSnapped(synth, truth);
  const evaluate = makeNoteEvaluator(synth);
  let used = evaluations;
  const search = timeRuns(() => {
    const r = evaluate({ index: 0, pitch: 64, audio: audio.slice(), snapped: {}, refine: { starts: [start], evaluations } });
    used = r.refined?.evaluations ?? evaluations;
  }, runs, 1);
  const scratch = new NoteScratch(renderOptionsOf(synth));
  const render = timeRuns(() => renderSnapped(synth, start, scratch), runs * 4, 2);
  // The search's own overhead (one note preparation and three baselines) is a few distances: spread over the steps.
  const msPerEvaluation = search.medianMs / used;
  return { runs, evaluationsPerRun: used, msPerEvaluation, renderMs: render.medianMs, secPerNoteAt400: (400 * msPerEvaluation) / 1000 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${JSON.stringify(benchRefine(Number(process.argv[2] ?? 5)), null, 2)}\n`);
}
