/**
 * Regression targets of the CNN: the 15 parameters, optionally moved to log space (ratios and
 * carrier, whose errors are musical in log terms), then z-scored with statistics of the training
 * split only. Saved with the model so predictions map back to the same units.
 */
import { PARAM_COUNT, PARAM_NAMES, PARAM_SPECS } from '../synth/params.ts';
import { type CarrierBinsSpec, checkCarrierBins } from './carrier-bins.ts';

/** Per-parameter transform before z-scoring. */
export type TargetTransform = 'linear' | 'log';

/** Everything needed to map parameters to targets and back. JSON-serialisable. */
export interface TargetNormalization {
  readonly names: readonly string[];
  readonly transforms: readonly TargetTransform[];
  /** Mean of the transformed training targets, [15]. */
  readonly mean: readonly number[];
  /** Population standard deviation of the transformed training targets, [15] (1 where it is 0). */
  readonly std: readonly number[];
  /**
   * Present when the model classifies the carrier over these bins (`--carrier-head bins`, ours):
   * the model then has a second output and the carrier is read from it, not from output 0.
   */
  readonly carrierBins?: CarrierBinsSpec;
}

/** Transforms of the plain paper setup, or of our log-space option (ratios and carrier in log). */
export function targetTransforms(logSpace: boolean): TargetTransform[] {
  return PARAM_SPECS.map((s) => (logSpace && (s.name === 'carrier_hz' || s.name.startsWith('ratio_')) ? 'log' : 'linear'));
}

function forward(t: TargetTransform, v: number): number {
  return t === 'log' ? Math.log(v) : v;
}

/** Fits the normalisation on rows `rows` of `params` ([count, 15], row-major). */
export function fitTargetNormalization(params: Float64Array, rows: readonly number[], transforms: readonly TargetTransform[]): TargetNormalization {
  if (rows.length === 0) throw new Error('cannot fit target statistics on an empty training split');
  const mean = new Array<number>(PARAM_COUNT).fill(0);
  const sq = new Array<number>(PARAM_COUNT).fill(0);
  for (const r of rows) {
    for (let j = 0; j < PARAM_COUNT; j++) mean[j] += forward(transforms[j], params[r * PARAM_COUNT + j]);
  }
  for (let j = 0; j < PARAM_COUNT; j++) mean[j] /= rows.length;
  for (const r of rows) {
    for (let j = 0; j < PARAM_COUNT; j++) {
      const d = forward(transforms[j], params[r * PARAM_COUNT + j]) - mean[j];
      sq[j] += d * d;
    }
  }
  const std = sq.map((s) => Math.sqrt(s / rows.length) || 1);
  return { names: [...PARAM_NAMES], transforms: [...transforms], mean, std };
}

/** Parameters (original units, [15]) → normalised targets, written into `out` at `offset`. */
export function normalizeTargets(norm: TargetNormalization, values: ArrayLike<number>, out: Float32Array, offset = 0): void {
  for (let j = 0; j < PARAM_COUNT; j++) out[offset + j] = (forward(norm.transforms[j], values[j]) - norm.mean[j]) / norm.std[j];
}

/** Normalised outputs ([15] at `offset`) → parameters in original units (not clipped or snapped). */
export function denormalizeTargets(norm: TargetNormalization, z: ArrayLike<number>, offset = 0): number[] {
  const v: number[] = [];
  for (let j = 0; j < PARAM_COUNT; j++) {
    const x = z[offset + j] * norm.std[j] + norm.mean[j];
    v.push(norm.transforms[j] === 'log' ? Math.exp(x) : x);
  }
  return v;
}

/** Checks that a saved normalisation matches this build's parameter table. */
export function checkNormalization(norm: TargetNormalization): void {
  const same = norm.names.length === PARAM_NAMES.length && norm.names.every((n, j) => n === PARAM_NAMES[j]);
  if (!same) throw new Error(`the model's parameters (${norm.names.join(', ')}) do not match this version's parameter table`);
  if (norm.carrierBins) checkCarrierBins(norm.carrierBins);
}
