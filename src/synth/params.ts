/**
 * The one parameter-spec table of an FM patch: the 15 regression targets of the CNN paper
 * (`../shared/reference/synth-spec.md` §1). The sampler, the snapper, the CSV columns, the model's
 * targets and the reports all read this table; nothing else lists parameter names.
 */

/** How a parameter is spread over its range when normalised to [0, 1]. */
export type ParamScale = 'lin' | 'log';

/** One row of the parameter table. */
export interface ParamSpec {
  /** Column name in `params.csv` and model output order. */
  readonly name: string;
  /** Human unit, as printed in reports. */
  readonly unit: string;
  /** Inclusive lower bound, in `unit`. */
  readonly min: number;
  /** Inclusive upper bound, in `unit`. */
  readonly max: number;
  /** Natural scale of the parameter (used by `toNormalized`/`fromNormalized`). */
  readonly scale: ParamScale;
  /** One-line description for `--help` and reports. */
  readonly describe: string;
}

/** Number of modulators in a paper patch (6 operators = 1 carrier + 5 modulators). */
export const MODULATOR_COUNT = 5;

/**
 * The musical ratio set R of spec §1 (the paper's garbled list, read as reciprocals and integers
 * from 1/8 to 8), ascending.
 */
export const RATIO_SET: readonly number[] = Object.freeze([
  1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5, 6, 7, 8,
]);

const ratioSpecs: ParamSpec[] = [];
const betaSpecs: ParamSpec[] = [];
for (let k = 1; k <= MODULATOR_COUNT; k++) {
  ratioSpecs.push({
    name: `ratio_${k}`,
    unit: '× carrier',
    min: 1 / 8,
    max: 8,
    scale: 'log',
    describe: `frequency of modulator ${k} as a multiple of the carrier frequency`,
  });
  betaSpecs.push({
    name: `beta_${k}`,
    unit: 'rad',
    min: 0,
    max: 8,
    scale: 'lin',
    describe: `modulation index (peak phase deviation) that modulator ${k} applies`,
  });
}

/** The 15 patch parameters in canonical order (CSV columns and model outputs follow it). */
export const PARAM_SPECS: readonly ParamSpec[] = Object.freeze(([
  { name: 'carrier_hz', unit: 'Hz', min: 20, max: 6000, scale: 'log', describe: 'carrier frequency' },
  ...ratioSpecs,
  ...betaSpecs,
  { name: 'attack_s', unit: 's', min: 0.005, max: 0.5, scale: 'lin', describe: 'envelope attack time, 0 → 1' },
  { name: 'decay_s', unit: 's', min: 0.02, max: 0.6, scale: 'lin', describe: 'envelope decay time, 1 → sustain' },
  { name: 'sustain', unit: 'level', min: 0.1, max: 0.9, scale: 'lin', describe: 'envelope sustain level (linear amplitude)' },
  { name: 'release_s', unit: 's', min: 0.05, max: 0.8, scale: 'lin', describe: 'envelope release time after note-off' },
] as ParamSpec[]).map((s) => Object.freeze(s)));

/** Parameter names in canonical order. */
export const PARAM_NAMES: readonly string[] = Object.freeze(PARAM_SPECS.map((s) => s.name));

/** Number of patch parameters (15). */
export const PARAM_COUNT = PARAM_SPECS.length;

/** A patch as the synth consumes it. Frequencies in Hz, times in seconds, β in radians. */
export interface Patch {
  /** Carrier frequency, Hz, 20 … 6000. */
  readonly carrierHz: number;
  /** Modulator frequency ratios (× carrier), length 5, each 1/8 … 8. */
  readonly ratios: readonly number[];
  /** Modulation indices in radians, length 5, each 0 … 8. */
  readonly betas: readonly number[];
  /** Attack time, s. */
  readonly attackSec: number;
  /** Decay time, s. */
  readonly decaySec: number;
  /** Sustain level, linear amplitude 0 … 1. */
  readonly sustain: number;
  /** Release time, s. */
  readonly releaseSec: number;
}

/** Flattens a patch to the 15-vector in `PARAM_SPECS` order. */
export function patchToVector(patch: Patch): Float64Array {
  if (patch.ratios.length !== MODULATOR_COUNT || patch.betas.length !== MODULATOR_COUNT) {
    throw new Error(`a patch needs ${MODULATOR_COUNT} ratios and ${MODULATOR_COUNT} betas`);
  }
  const v = new Float64Array(PARAM_COUNT);
  v[0] = patch.carrierHz;
  for (let k = 0; k < MODULATOR_COUNT; k++) {
    v[1 + k] = patch.ratios[k];
    v[1 + MODULATOR_COUNT + k] = patch.betas[k];
  }
  v[11] = patch.attackSec;
  v[12] = patch.decaySec;
  v[13] = patch.sustain;
  v[14] = patch.releaseSec;
  return v;
}

/** Inverse of `patchToVector`. `v` has length 15, in `PARAM_SPECS` order and units. */
export function vectorToPatch(v: ArrayLike<number>): Patch {
  if (v.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} parameters, got ${v.length}`);
  const ratios: number[] = [];
  const betas: number[] = [];
  for (let k = 0; k < MODULATOR_COUNT; k++) {
    ratios.push(v[1 + k]);
    betas.push(v[1 + MODULATOR_COUNT + k]);
  }
  return {
    carrierHz: v[0],
    ratios,
    betas,
    attackSec: v[11],
    decaySec: v[12],
    sustain: v[13],
    releaseSec: v[14],
  };
}

/** Maps a value in the spec's unit to [0, 1] on the spec's scale (unclipped). */
export function toNormalized(spec: ParamSpec, value: number): number {
  if (spec.scale === 'log') return Math.log(value / spec.min) / Math.log(spec.max / spec.min);
  return (value - spec.min) / (spec.max - spec.min);
}

/** Inverse of `toNormalized`. */
export function fromNormalized(spec: ParamSpec, unit01: number): number {
  if (spec.scale === 'log') return spec.min * Math.pow(spec.max / spec.min, unit01);
  return spec.min + unit01 * (spec.max - spec.min);
}

/** Clips `value` to the spec's [min, max]. NaN stays NaN so that callers can reject it. */
export function clipToSpec(spec: ParamSpec, value: number): number {
  return value < spec.min ? spec.min : value > spec.max ? spec.max : value;
}

/**
 * Validates a patch: every parameter finite and within its range (with a relative slack of 1e-9
 * for values that went through text). Returns the first problem as a sentence, or null.
 */
export function patchProblem(patch: Patch): string | null {
  let v: Float64Array;
  try {
    v = patchToVector(patch);
  } catch (e) {
    return (e as Error).message;
  }
  for (let i = 0; i < PARAM_COUNT; i++) {
    const s = PARAM_SPECS[i];
    const x = v[i];
    if (!Number.isFinite(x)) return `${s.name} is ${x}, not a finite number`;
    const slack = 1e-9 * Math.max(Math.abs(s.min), Math.abs(s.max));
    if (x < s.min - slack || x > s.max + slack) return `${s.name} = ${x} is outside ${s.min} … ${s.max} ${s.unit}`;
  }
  return null;
}
