/**
 * The evaluation's results model, shared by the evaluator (which fills it) and the report writers
 * (which read it). Distances follow `../shared/reference/synth-spec.md` §5; systems are the
 * resynthesis paths and the baselines of §6.
 */
import type { NoteMeta } from '../nsynth/types.ts';

/** The four distances between a note and a candidate (spec §5). */
export interface DistanceSet {
  /** L2 of |rfft| (65,536-point), both signals prepared (zero-mean, peak 1). */
  readonly fft: number;
  /** Frobenius norm of the STFT magnitude difference (126 × 1025). */
  readonly stft: number;
  /** Frobenius norm of the log-mel (dB) difference (126 × 128). */
  readonly logmel: number;
  /** `logmel` / (128 · 126), the paper's normalisation. */
  readonly logmel_normalized: number;
}

/** Names of the distance metrics, in report order. */
export const METRICS = ['fft', 'stft', 'logmel', 'logmel_normalized'] as const;
export type Metric = (typeof METRICS)[number];

/**
 * Systems compared per note. `cnn` (the paper's CNN resynthesis) and `ddx7` are resynthesis
 * paths; `cnn_pitch` (ours, on request) is the CNN's patch with its carrier set to the note's
 * metadata pitch, which separates what the CNN gets wrong about pitch from the rest of the
 * patch; `cnn_refined` (ours, on request) is the patch a search by re-rendering finds from the
 * CNN's (see eval/refine.ts); `sine440` and `pitched` are the baselines (spec §6).
 */
export type SystemName = 'cnn' | 'cnn_pitch' | 'cnn_refined' | 'ddx7' | 'sine440' | 'pitched';

/** Baselines, against which improvements are computed. */
export const BASELINES: readonly SystemName[] = ['sine440', 'pitched'];

/** Everything the evaluator knows about one evaluated note. */
export interface NoteResult {
  readonly meta: NoteMeta;
  /** Raw model outputs per system that predicts patch parameters, in PARAM_SPECS order and units (length 15). */
  readonly predicted: Partial<Record<SystemName, readonly number[]>>;
  /** The snapped parameters actually rendered (spec §4), same layout. */
  readonly snapped: Partial<Record<SystemName, readonly number[]>>;
  /** Distances from the note to each system's audio. */
  readonly distances: Partial<Record<SystemName, DistanceSet>>;
}

/** A note that could not be evaluated, and why (counted and listed in the report, never silent). */
export interface SkippedNote {
  /** note_str, or the file name when no metadata could be read. */
  readonly id: string;
  /** One sentence. */
  readonly reason: string;
}

/** Mean and standard deviation of one metric over a group of notes. */
export interface MetricStats {
  readonly mean: number;
  readonly std: number;
  readonly count: number;
}

/** A row of summary.csv: one family (or 'overall') and one system. */
export interface SummaryRow {
  /** Family name, or 'overall'. */
  readonly group: string;
  readonly system: SystemName;
  readonly notes: number;
  readonly stats: Record<Metric, MetricStats>;
  /** (baseline − system) / baseline of the group means, per baseline and metric; absent for a baseline against itself. */
  readonly improvement: Partial<Record<SystemName, Record<Metric, number>>>;
}
