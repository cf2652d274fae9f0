/**
 * Random patches for the dataset (spec §1, the paper's §5.1). Patch i is a function of
 * (seed, i) alone: each patch has its own generator, seeded from both, so any worker count, any
 * shard and any resume produce the same patches.
 */
import seedrandom from 'seedrandom';
import { MODULATOR_COUNT, type Patch, PARAM_SPECS, RATIO_SET } from './params.ts';

/** A generator of uniform numbers in [0, 1). */
export type Uniform = () => number;

/** Probability that a ratio is drawn from the musical set R rather than log-uniformly (paper: 90 %). */
export const RATIO_DISCRETE_PROB = 0.9;

/** How patches whose modulators exceed the render's Nyquist limit are treated. */
export type NyquistPolicy = 'keep' | 'redraw';

/** Options of the patch sampler. */
export interface SamplerOptions {
  /** Dataset seed (any integer). */
  readonly seed: number;
  /**
   * 'keep' (the paper's choice): a modulator above the Nyquist limit stays and aliases in the
   * render; 'redraw': the patch's ratios are drawn again (from the same per-patch stream) until
   * every operator is below `nyquistHz`.
   */
  readonly nyquist: NyquistPolicy;
  /** Half the render rate, Hz (24,000 at 48 kHz). */
  readonly nyquistHz: number;
}

/** The per-patch generator: alea (fast, good statistics) seeded by a string naming seed and index. */
export function patchRng(seed: number, index: number): Uniform {
  return seedrandom.alea(`fmmatch/patch/${seed}/${index}`);
}

function uniform(rng: Uniform, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** paper §5.1: 90 % a uniform choice from R, 10 % log-uniform on [1/8, 8]. */
function sampleRatio(rng: Uniform): number {
  if (rng() < RATIO_DISCRETE_PROB) return RATIO_SET[Math.min(RATIO_SET.length - 1, Math.floor(rng() * RATIO_SET.length))];
  return Math.exp(uniform(rng, Math.log(1 / 8), Math.log(8)));
}

/** paper §5.1: 20 % on [0, 0.5), 60 % on [0.5, 3), 20 % on [3, 8]. */
function sampleBeta(rng: Uniform): number {
  const u = rng();
  if (u < 0.2) return uniform(rng, 0, 0.5);
  if (u < 0.8) return uniform(rng, 0.5, 3);
  return uniform(rng, 3, 8);
}

function spec(name: string): { min: number; max: number } {
  const s = PARAM_SPECS.find((p) => p.name === name);
  if (!s) throw new Error(`no parameter ${name}`);
  return s;
}

/** Highest operator frequency of a patch, Hz. */
export function maxOperatorHz(patch: Patch): number {
  return patch.carrierHz * Math.max(1, ...patch.ratios);
}

/** Most redraws before 'redraw' gives up (never reached with the spec's ranges: p(fail) < 1e-40). */
const MAX_REDRAWS = 256;

/**
 * Draws patch `index` of the dataset with `opts.seed`.
 *
 * @returns the patch and whether an operator exceeds the Nyquist limit (possible only with 'keep').
 */
export function samplePatch(index: number, opts: SamplerOptions): { patch: Patch; aboveNyquist: boolean } {
  if (!Number.isInteger(index) || index < 0) throw new Error(`patch index must be a non-negative integer, got ${index}`);
  const rng = patchRng(opts.seed, index);
  const c = spec('carrier_hz');
  const carrierHz = uniform(rng, c.min, c.max);
  let ratios = Array.from({ length: MODULATOR_COUNT }, () => sampleRatio(rng));
  const betas = Array.from({ length: MODULATOR_COUNT }, () => sampleBeta(rng));
  const a = spec('attack_s');
  const d = spec('decay_s');
  const s = spec('sustain');
  const r = spec('release_s');
  const attackSec = uniform(rng, a.min, a.max);
  const decaySec = uniform(rng, d.min, d.max);
  const sustain = uniform(rng, s.min, s.max);
  const releaseSec = uniform(rng, r.min, r.max);
  const make = (): Patch => ({ carrierHz, ratios, betas, attackSec, decaySec, sustain, releaseSec });
  let patch = make();
  if (opts.nyquist === 'redraw') {
    // Redraws come after every other draw, so the rest of the patch is the same under both policies.
    for (let tries = 0; maxOperatorHz(patch) >= opts.nyquistHz; tries++) {
      if (tries >= MAX_REDRAWS) throw new Error(`patch ${index}: no ratios below the Nyquist limit after ${MAX_REDRAWS} draws`);
      ratios = Array.from({ length: MODULATOR_COUNT }, () => sampleRatio(rng));
      patch = make();
    }
  }
  return { patch, aboveNyquist: maxOperatorHz(patch) >= opts.nyquistHz };
}
