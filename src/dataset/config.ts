/**
 * The typed, frozen configuration of a generated dataset: everything that determines its bytes,
 * and nothing else (worker count, sharding and resuming do not change the output).
 */
import { DEFAULT_ALGORITHM, getAlgorithm } from '../synth/algorithms.ts';
import { feedbackDepthRad, PAPER_RENDER } from '../synth/render.ts';
import type { NyquistPolicy } from '../synth/sampler.ts';

/** What determines a dataset's content. */
export interface DatasetConfig {
  /** Number of patches, ≥ 1. */
  readonly count: number;
  /** Seed; patch i is a function of (seed, i). */
  readonly seed: number;
  /** Algorithm name (`paper-3s2p`, `paper-serial`, `dx7-1` … `dx7-32`). */
  readonly algorithm: string;
  /** DX7 feedback amount 0 … 7 (0 for the paper's dataset). */
  readonly feedback: number;
  /** Treatment of modulators above the render's Nyquist limit. */
  readonly nyquist: NyquistPolicy;
  /** Render rate, Hz (spec: 48,000). */
  readonly renderRate: number;
  /** Output rate, Hz (spec: 16,000; render rate / 3). */
  readonly sampleRate: number;
  /** Note length, s. */
  readonly durationSec: number;
  /** Note-off, s. */
  readonly noteOffSec: number;
  /**
   * Linear gain applied to the 16 kHz note before it is written. The voice peaks at 1 at 48 kHz,
   * but removing its content above 8 kHz raises the peak of what remains (median 1.11, up to 1.41
   * over 300 paper patches), so writing at unit gain would clip most notes. −6 dB of headroom
   * keeps them within [-1, 1]; the manifest counts any that still reach full scale.
   */
  readonly outputGain: number;
}

/** The paper's dataset (spec §1–3): 5,000 patches, seed 0, `paper-3s2p`. */
export const DEFAULT_DATASET_CONFIG: DatasetConfig = Object.freeze({
  count: 5000,
  seed: 0,
  algorithm: DEFAULT_ALGORITHM,
  feedback: 0,
  nyquist: 'keep',
  renderRate: PAPER_RENDER.sampleRate,
  sampleRate: 16000,
  durationSec: PAPER_RENDER.durationSec,
  noteOffSec: PAPER_RENDER.noteOffSec,
  outputGain: 0.5,
});

/** Samples per note at the output rate (64,000 by default). */
export function noteLength(config: DatasetConfig): number {
  return Math.round(config.durationSec * config.sampleRate);
}

/**
 * Validates and freezes a configuration. Throws an Error with a one-line message naming the
 * problem.
 */
export function makeDatasetConfig(overrides: Partial<DatasetConfig>): DatasetConfig {
  const c = { ...DEFAULT_DATASET_CONFIG, ...overrides };
  if (!Number.isInteger(c.count) || c.count < 1) throw new Error(`--count must be a positive integer, got ${c.count}`);
  if (!Number.isSafeInteger(c.seed)) throw new Error(`--seed must be an integer, got ${c.seed}`);
  const alg = getAlgorithm(c.algorithm);
  try {
    feedbackDepthRad(c.feedback);
  } catch {
    throw new Error(`--feedback must be an integer 0 … 7, got ${c.feedback}`);
  }
  if (c.feedback > 0 && !alg.feedback) throw new Error(`--feedback ${c.feedback}: algorithm ${c.algorithm} has no feedback loop`);
  if (c.nyquist !== 'keep' && c.nyquist !== 'redraw') throw new Error(`--nyquist must be keep or redraw, got ${String(c.nyquist)}`);
  if (c.renderRate !== 3 * c.sampleRate) throw new Error('the render rate must be 3 × the output rate (the decimator divides by 3)');
  if (c.renderRate !== 48000) throw new Error('only the 48 kHz render (16 kHz output) is supported: the decimator is designed for it');
  if (!(c.outputGain > 0 && c.outputGain <= 1)) throw new Error(`the output gain must be in (0, 1], got ${c.outputGain}`);
  if (!(c.durationSec > 0) || !(c.noteOffSec > 0) || c.noteOffSec > c.durationSec) throw new Error('note-off must lie within the note');
  return Object.freeze(c);
}

/** A folder name that says what the dataset is, e.g. `paper-3s2p_n5000_seed0`. */
export function datasetName(config: DatasetConfig): string {
  const parts = [config.algorithm, `n${config.count}`, `seed${config.seed}`];
  if (config.feedback > 0) parts.push(`fb${config.feedback}`);
  if (config.nyquist !== 'keep') parts.push(`nyq-${config.nyquist}`);
  return parts.join('_');
}

/** True when two configurations describe the same dataset. */
export function sameConfig(a: DatasetConfig, b: DatasetConfig): boolean {
  const keys = Object.keys(DEFAULT_DATASET_CONFIG) as (keyof DatasetConfig)[];
  return keys.every((k) => a[k] === b[k]);
}
