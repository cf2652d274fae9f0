/**
 * What kind of carrier errors an estimator makes (ours, for the training reports).
 *
 * Every partial of an FM patch lies at the carrier times a sum of integer multiples of the ratios,
 * and 90 % of the ratios are whole numbers or their reciprocals, so an estimator that locks onto
 * the wrong partial is off by a ratio of small whole numbers (2/1, 3/2, 1/2 …), not by a random
 * amount. Counting how many of the misses are such ratios, against how many a random miss of the
 * same size would be, says whether the estimator hears the pitch lattice and picks the wrong member
 * of it, or does not hear it at all; the carrier bands say where the hertz of the MAE come from.
 */

import { besselJ0 } from '../dsp/bessel.ts';

/** A fraction num/den of whole numbers in lowest terms, and how far a value is from it. */
export interface NearRatio {
  readonly num: number;
  readonly den: number;
  /** |1200·log2(value / (num/den))|, cents. */
  readonly cents: number;
}

/** Options of {@link carrierErrorStructure}. */
export interface CarrierErrorOptions {
  /** A note counts as right within this many cents of the true carrier. Default 50. */
  readonly rightCents?: number;
  /** Largest numerator and denominator of the ratios looked for. Default 8 (the ratio set's). */
  readonly maxTerm?: number;
  /** How close to a ratio a miss must be to count as that ratio, cents. Default 10. */
  readonly toleranceCents?: number;
  /** Band edges of the true carrier, Hz, ascending; the last band includes its upper edge. Default 20, 1000 … 6000. */
  readonly bandEdgesHz?: readonly number[];
}

/** One band of true carriers. */
export interface CarrierBand {
  readonly loHz: number;
  readonly hiHz: number;
  readonly notes: number;
  /** Notes within `rightCents`. */
  readonly right: number;
  /** Sum of |predicted − true| over the band's notes, Hz (divide by all notes for its share of the MAE). */
  readonly absErrorHz: number;
}

/** The error structure of a set of carrier predictions. */
export interface CarrierErrorStructure {
  readonly notes: number;
  readonly right: number;
  /** Misses within `toleranceCents` of a ratio num/den (≠ 1) of the true carrier. */
  readonly atRatio: number;
  /** Misses near no such ratio. */
  readonly elsewhere: number;
  /** The ratios predicted / true met, most frequent first (ties: simpler first). */
  readonly confusions: readonly { readonly num: number; readonly den: number; readonly count: number }[];
  /**
   * The chance level of `atRatio`: the share of misses that would lie near such a ratio if each
   * were moved at random by up to ±{@link CHANCE_WINDOW_CENTS} (uniformly, staying a miss), i.e.
   * the mean over the misses of the covered share of the cents axis around each miss's own size.
   * Local, so that the spread of the miss sizes is kept and one outlier cannot move it.
   */
  readonly chanceShare: number;
  readonly bands: readonly CarrierBand[];
  /** The options used, defaults filled in. */
  readonly options: Required<CarrierErrorOptions>;
}

/** Half-width of the window around each miss in which the chance level is measured, cents. */
export const CHANCE_WINDOW_CENTS = 100;

const DEFAULTS: Required<CarrierErrorOptions> = Object.freeze({
  rightCents: 50,
  maxTerm: 8,
  toleranceCents: 10,
  bandEdgesHz: Object.freeze([20, 1000, 2000, 3000, 4000, 5000, 6000]),
});

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The fractions num/den (lowest terms, 1 ≤ num, den ≤ maxTerm), simplest first (by max(num, den), then num + den). */
function fractions(maxTerm: number): { num: number; den: number; value: number }[] {
  const out: { num: number; den: number; value: number }[] = [];
  for (let num = 1; num <= maxTerm; num++) for (let den = 1; den <= maxTerm; den++) if (gcd(num, den) === 1) out.push({ num, den, value: num / den });
  return out.sort((a, b) => Math.max(a.num, a.den) - Math.max(b.num, b.den) || a.num + a.den - (b.num + b.den) || a.value - b.value);
}

/**
 * The simplest fraction num/den (1 ≤ num, den ≤ `maxTerm`) within `toleranceCents` of `value`,
 * or null.
 *
 * @param value a positive ratio
 */
export function simplestRatioNear(value: number, maxTerm = DEFAULTS.maxTerm, toleranceCents = DEFAULTS.toleranceCents): NearRatio | null {
  if (!(value > 0) || !Number.isFinite(value)) return null;
  for (const f of fractions(maxTerm)) {
    const cents = Math.abs(1200 * Math.log2(value / f.value));
    if (cents <= toleranceCents) return { num: f.num, den: f.den, cents };
  }
  return null;
}

/**
 * Share of the cents interval [lo, hi], taken on both sides of 1 (ratios 2^(±c/1200)), that lies
 * within `toleranceCents` of a fraction other than 1/1: the chance that a miss of uniformly
 * distributed size lands near a ratio. Exact: the union of the fractions' windows, measured.
 */
function ratioCoverage(loCents: number, hiCents: number, maxTerm: number, toleranceCents: number): number {
  if (!(hiCents > loCents)) return 0;
  // Windows on the |cents| axis: a fraction and its reciprocal fall at the same |cents|; sides are symmetric.
  const windows = fractions(maxTerm)
    .map((f) => Math.abs(1200 * Math.log2(f.value)))
    .filter((c) => c > 0)
    .map((c) => [Math.max(loCents, c - toleranceCents), Math.min(hiCents, c + toleranceCents)] as const)
    .filter(([a, b]) => b > a)
    .sort((p, q) => p[0] - q[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [a, b] of windows) {
    if (b <= end) continue;
    covered += b - Math.max(a, end);
    end = b;
  }
  return covered / (hiCents - loCents);
}

/**
 * Sorts carrier predictions into right, misses at a simple ratio of the truth, and other misses,
 * and sums the errors per band of true carriers.
 *
 * @param pairs true and predicted carriers, Hz (> 0; a prediction ≤ 0 counts as 1 mHz)
 */
export function carrierErrorStructure(pairs: readonly { readonly truthHz: number; readonly predictedHz: number }[], options: CarrierErrorOptions = {}): CarrierErrorStructure {
  const o: Required<CarrierErrorOptions> = { ...DEFAULTS, ...options };
  const edges = o.bandEdgesHz;
  if (edges.length < 2 || edges.some((e, i) => i > 0 && !(e > (edges[i - 1] as number)))) throw new Error(`band edges must be ascending, at least two: ${edges.join(', ')}`);
  const bands = edges.slice(1).map((hi, i) => ({ loHz: edges[i] as number, hiHz: hi, notes: 0, right: 0, absErrorHz: 0 }));
  const counts = new Map<string, { num: number; den: number; count: number }>();
  let right = 0;
  let atRatio = 0;
  let chanceSum = 0;
  for (const { truthHz, predictedHz } of pairs) {
    const predicted = Math.max(predictedHz, 1e-3);
    const cents = Math.abs(1200 * Math.log2(predicted / truthHz));
    const isRight = cents < o.rightCents;
    const band = bands.find((b, i) => truthHz >= b.loHz && (truthHz < b.hiHz || (i === bands.length - 1 && truthHz <= b.hiHz)));
    if (band) {
      band.notes++;
      band.right += isRight ? 1 : 0;
      band.absErrorHz += Math.abs(predicted - truthHz);
    }
    if (isRight) {
      right++;
      continue;
    }
    chanceSum += ratioCoverage(Math.max(o.rightCents, cents - CHANCE_WINDOW_CENTS), Math.max(o.rightCents, cents - CHANCE_WINDOW_CENTS) + 2 * CHANCE_WINDOW_CENTS, o.maxTerm, o.toleranceCents);
    const near = simplestRatioNear(predicted / truthHz, o.maxTerm, o.toleranceCents);
    if (!near || near.num === near.den) continue;
    atRatio++;
    const key = `${near.num}/${near.den}`;
    const c = counts.get(key) ?? { num: near.num, den: near.den, count: 0 };
    c.count++;
    counts.set(key, c);
  }
  const order = fractions(o.maxTerm).map((f) => `${f.num}/${f.den}`);
  const confusions = [...counts.entries()]
    .sort((a, b) => b[1].count - a[1].count || order.indexOf(a[0]) - order.indexOf(b[0]))
    .map(([, c]) => c);
  const misses = pairs.length - right;
  return {
    notes: pairs.length,
    right,
    atRatio,
    elsewhere: misses - atRatio,
    confusions,
    chanceShare: misses > 0 ? chanceSum / misses : 0,
    bands,
    options: o,
  };
}

/**
 * Level of the carrier operator's own component, dB relative to an unmodulated carrier:
 * 20·log10 |Π J0(β_k)| over the modulators k that phase-modulate the carrier directly. With
 * incommensurate modulator frequencies that product is the component's amplitude exactly
 * (e^{iβ sin θ} averages to J0(β) over θ, whatever modulates θ); with commensurate ones, sidebands
 * that land on the carrier's frequency add to it, so this is the patch's nominal level there.
 * Why it is reported: an estimator that looks for the carrier's peak loses it when the indices
 * empty it (β near 2.405 or 5.520), and must then find it from the sidebands' pattern alone.
 *
 * @param betas modulation index of modulator k at index k − 1, rad
 * @param direct the modulators (numbers 1 … betas.length) that modulate the carrier directly
 * @returns dB (≤ 0), floored at −120
 */
export function carrierComponentDb(betas: readonly number[], direct: readonly number[]): number {
  let amp = 1;
  for (const k of direct) {
    const beta = betas[k - 1];
    if (beta === undefined) throw new Error(`carrier component: no index for modulator ${k}`);
    amp *= besselJ0(beta);
  }
  return Math.max(-120, 20 * Math.log10(Math.abs(amp)));
}

/** Edges of the carrier-level bands, dB, ascending (the first band is everything below −30 dB). */
export const CARRIER_LEVEL_EDGES_DB: readonly number[] = Object.freeze([-Infinity, -30, -20, -10, -5, 0]);

/** One band of carrier-component levels. */
export interface CarrierLevelBand {
  readonly loDb: number;
  readonly hiDb: number;
  readonly notes: number;
  /** Notes within `rightCents` of the true carrier. */
  readonly right: number;
}

/**
 * How often the carrier is right per band of its component's level (`carrierComponentDb`).
 *
 * @param items true and predicted carriers, Hz, with the level of each note's carrier component, dB
 * @param rightCents a note counts as right within this many cents
 * @param edgesDb band edges, ascending; the last band includes its upper edge
 */
export function rightByCarrierLevel(items: readonly { readonly truthHz: number; readonly predictedHz: number; readonly levelDb: number }[], rightCents = DEFAULTS.rightCents, edgesDb: readonly number[] = CARRIER_LEVEL_EDGES_DB): CarrierLevelBand[] {
  if (edgesDb.length < 2 || edgesDb.some((e, i) => i > 0 && !(e > (edgesDb[i - 1] as number)))) throw new Error(`level edges must be ascending, at least two: ${edgesDb.join(', ')}`);
  const bands = edgesDb.slice(1).map((hi, i) => ({ loDb: edgesDb[i] as number, hiDb: hi, notes: 0, right: 0 }));
  for (const it of items) {
    const last = bands.length - 1;
    const b = bands.findIndex((band, i) => it.levelDb >= band.loDb && (it.levelDb < band.hiDb || (i === last && it.levelDb <= band.hiDb)));
    if (b < 0) continue;
    const band = bands[b] as (typeof bands)[number];
    band.notes++;
    if (Math.abs(1200 * Math.log2(Math.max(it.predictedHz, 1e-3) / it.truthHz)) < rightCents) band.right++;
  }
  return bands;
}
