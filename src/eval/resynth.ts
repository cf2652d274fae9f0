/**
 * Resynthesis of one note and its distances (spec §4–6): the snapped patch rendered with the synth
 * the model was trained on, compared with the note by FFT, STFT and log-mel distances, beside the
 * sine-440 and pitched-sine baselines. Pure computation over typed arrays; the evaluator runs it
 * in worker threads.
 */
import type { DatasetConfig } from '../dataset/config.ts';
import { renderOptionsOf } from '../dataset/patch-file.ts';
import { DistanceCalculator, type Distances } from '../features/distances.ts';
import { getAlgorithm } from '../synth/algorithms.ts';
import { inertParameters } from '../synth/inert.ts';
import { NoteScratch, renderNote } from '../synth/note.ts';
import { vectorToPatch } from '../synth/params.ts';
import { pitchedSineBaseline, sine440Baseline } from './baselines.ts';
import { type RefineResult, refinePatch } from './refine.ts';
import type { DistanceSet, SystemName } from './types.ts';

/** One note to evaluate. */
export interface NoteEvalTask {
  /** Position of the note in the run (results come back in completion order). */
  readonly index: number;
  /** MIDI pitch from the metadata (the pitched baseline's frequency). */
  readonly pitch: number;
  /** The note, 16 kHz, [64000]. */
  readonly audio: Float32Array;
  /** Snapped parameters per resynthesis system, PARAM_SPECS order and units. */
  readonly snapped: Partial<Record<SystemName, readonly number[]>>;
  /** Audio of systems rendered elsewhere (DDX7 runs in the tfjs thread), 16 kHz. */
  readonly rendered?: Partial<Record<SystemName, Float32Array>>;
  /** When set, also search from these snapped patches for a closer one (system `cnn_refined`). */
  readonly refine?: { readonly starts: readonly (readonly number[])[]; readonly evaluations: number };
}

/** Distances per system for one note. */
export interface NoteEvalResult {
  readonly index: number;
  readonly distances: Partial<Record<SystemName, DistanceSet>>;
  /** The refined patch, when the task asked for a search. */
  readonly refined?: RefineResult;
}

/**
 * The search's cost: the candidate's FFT, STFT and log-mel distances each divided by the pitched
 * sine's for this note, averaged. Scale-free, so no metric dominates, and below 1 exactly when
 * the patch beats the stricter baseline on average.
 */
export function refineCost(d: DistanceSet, pitched: DistanceSet): number {
  return (d.fft / pitched.fft + d.stft / pitched.stft + d.logmel / pitched.logmel) / 3;
}

/** Our report names for the feature layer's distances. */
export function toDistanceSet(d: Distances): DistanceSet {
  return { fft: d.fft, stft: d.stft, logmel: d.logMel, logmel_normalized: d.logMelNormalized };
}

/** Renders a snapped 15-vector with a model's synth config: 16 kHz, [64000]. */
export function renderSnapped(synth: DatasetConfig, snapped: readonly number[], scratch?: NoteScratch): Float32Array {
  return renderNote(vectorToPatch(snapped), getAlgorithm(synth.algorithm), renderOptionsOf(synth), scratch);
}

/** The per-note evaluator (buffers and plans built once per worker). */
export function makeNoteEvaluator(synth: DatasetConfig): (task: NoteEvalTask) => NoteEvalResult {
  const calc = new DistanceCalculator();
  const opts = renderOptionsOf(synth);
  const scratch = new NoteScratch(opts);
  const alg = getAlgorithm(synth.algorithm);
  // The same signal for every note: its spectra are computed once per worker.
  const sine440 = calc.prepareReference(sine440Baseline(synth.sampleRate, Math.round(synth.durationSec * synth.sampleRate)));
  return (task) => {
    const ref = calc.prepareReference(task.audio);
    const distances: Partial<Record<SystemName, DistanceSet>> = {};
    for (const [system, params] of Object.entries(task.snapped) as [SystemName, number[]][]) {
      distances[system] = toDistanceSet(calc.compare(ref, renderSnapped(synth, params, scratch)));
    }
    for (const [system, audio] of Object.entries(task.rendered ?? {}) as [SystemName, Float32Array][]) {
      distances[system] = toDistanceSet(calc.compare(ref, audio));
    }
    distances.sine440 = toDistanceSet(calc.comparePrepared(ref, sine440));
    const pitched = toDistanceSet(calc.compare(ref, pitchedSineBaseline(ref.signal, task.pitch, synth.sampleRate)));
    distances.pitched = pitched;
    if (!task.refine) return { index: task.index, distances };
    // A silent note has a silent pitched baseline: the relative cost is undefined, so no search.
    const measurable = pitched.fft > 0 && pitched.stft > 0 && pitched.logmel > 0;
    // A candidate's cost from partial sums of squares bounds it from below (the same arithmetic as
    // refineCost), so the comparison stops as soon as the candidate cannot beat the best.
    const lowerBound = (fftSq: number, stftSq: number, melSq: number): number => (Math.sqrt(fftSq) / pitched.fft + Math.sqrt(stftSq) / pitched.stft + Math.sqrt(melSq) / pitched.logmel) / 3;
    const refined = refinePatch(task.refine.starts, (params, bound) => {
      let abandonedAt = Infinity;
      const abandon = (f: number, s: number, m: number): boolean => {
        const lb = lowerBound(f, s, m);
        if (lb < bound) return false;
        abandonedAt = lb;
        return true;
      };
      const d = calc.compareUnless(ref, renderSnapped(synth, params, scratch), Number.isFinite(bound) ? abandon : null);
      return d === null ? abandonedAt : refineCost(toDistanceSet(d), pitched);
    }, {
      evaluations: measurable ? task.refine.evaluations : 1,
      inert: (params) => inertParameters(params, alg, opts.feedback > 0),
    });
    // One render more, to report the distances of the patch kept (cheaper than keeping every candidate's).
    distances.cnn_refined = toDistanceSet(calc.compare(ref, renderSnapped(synth, refined.params, scratch)));
    return { index: task.index, distances, refined };
  };
}
