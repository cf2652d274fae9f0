/**
 * Carrier frequency as a classification target (ours, `train-cnn --carrier-head bins`): a row of
 * log-spaced frequency bins, the target a Gaussian bump over them centred on the true carrier, the
 * prediction read back as an activation-weighted mean of the bins around the strongest one. This
 * is how pitch-estimating CNNs (CREPE, Kim et al. 2018) get to cents; regressing hertz with MSE
 * asks one linear output to resolve 20–6,000 Hz and rewards hedging towards the mean.
 */
import { PARAM_SPECS } from '../synth/params.ts';

/** The bin layout. JSON-serialisable (saved in the model's targets.json). */
export interface CarrierBinsSpec {
  /** Centre of bin 0, Hz. */
  readonly lowHz: number;
  /** Bin spacing, cents. */
  readonly binCents: number;
  /** Number of bins. */
  readonly count: number;
  /** Standard deviation of the target bump, cents. */
  readonly sigmaCents: number;
}

const carrierSpec = PARAM_SPECS.find((s) => s.name === 'carrier_hz');
if (!carrierSpec) throw new Error('parameter table has no carrier_hz');

/**
 * 20-cent bins over the carrier's whole range (20 … 6,000 Hz: 495 bins) and a 25-cent bump, as
 * CREPE uses; the weighted read-out resolves well below one bin.
 */
export const DEFAULT_CARRIER_BINS: CarrierBinsSpec = Object.freeze({
  lowHz: carrierSpec.min,
  binCents: 20,
  count: Math.ceil((1200 * Math.log2(carrierSpec.max / carrierSpec.min)) / 20) + 1,
  sigmaCents: 25,
});

/** Cents of `hz` above the centre of bin 0. */
function centsAboveLow(spec: CarrierBinsSpec, hz: number): number {
  return 1200 * Math.log2(hz / spec.lowHz);
}

/** Centre of bin `k`, Hz. */
export function carrierBinHz(spec: CarrierBinsSpec, k: number): number {
  return spec.lowHz * 2 ** ((k * spec.binCents) / 1200);
}

/**
 * Writes the target bump for a carrier into `out[offset … offset + count)`: exp(−d²/2σ²) with d the
 * distance in cents from each bin centre (values in (0, 1], 1 only on an exact bin centre).
 *
 * @param hz carrier frequency, > 0
 */
export function encodeCarrierBins(spec: CarrierBinsSpec, hz: number, out: Float32Array, offset = 0): void {
  if (!(hz > 0)) throw new Error(`carrier frequency must be positive, got ${hz}`);
  const c = centsAboveLow(spec, hz);
  const s2 = 2 * spec.sigmaCents * spec.sigmaCents;
  for (let k = 0; k < spec.count; k++) {
    const d = k * spec.binCents - c;
    out[offset + k] = Math.exp(-(d * d) / s2);
  }
}

/**
 * Reads a carrier back from bin activations at `act[offset … offset + count)`: the activation-
 * weighted mean (in cents) of the strongest bin and its neighbours within ±`halfWidth` bins.
 *
 * @returns carrier frequency, Hz
 */
export function decodeCarrierBins(spec: CarrierBinsSpec, act: ArrayLike<number>, offset = 0, halfWidth = 4): number {
  let best = 0;
  for (let k = 1; k < spec.count; k++) if (act[offset + k] > act[offset + best]) best = k;
  let sw = 0;
  let sc = 0;
  for (let k = Math.max(0, best - halfWidth); k <= Math.min(spec.count - 1, best + halfWidth); k++) {
    const w = Math.max(0, act[offset + k]);
    sw += w;
    sc += w * k * spec.binCents;
  }
  const cents = sw > 0 ? sc / sw : best * spec.binCents;
  return spec.lowHz * 2 ** (cents / 1200);
}

/** Checks a saved layout before it is used to decode. */
export function checkCarrierBins(spec: CarrierBinsSpec): void {
  const ok = spec.lowHz > 0 && spec.binCents > 0 && Number.isInteger(spec.count) && spec.count >= 2 && spec.sigmaCents > 0;
  if (!ok) throw new Error(`invalid carrier bin layout ${JSON.stringify(spec)}`);
}
