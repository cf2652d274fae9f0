/**
 * Aggregation of per-note results into the summary of the paper's Tables 6–9: per instrument
 * family and overall, for each system, the mean and standard deviation of every distance, and the
 * improvement over each baseline (spec §6). Pure: no I/O, no clock, input never mutated.
 */
import { NSYNTH_FAMILIES } from '../nsynth/types.ts';
import { hzOfMidi } from '../features/pitch.ts';
import { improvement } from './baselines.ts';
import { BASELINES, METRICS, type Metric, type MetricStats, type NoteResult, type SummaryRow, type SystemName } from './types.ts';

/** The group name of the row over all notes. */
export const OVERALL_GROUP = 'overall';

/**
 * Every system, in report order: resyntheses first, then the baselines (paper's first, ours
 * second). Tables, columns and charts follow this order.
 */
export const SYSTEM_ORDER: readonly SystemName[] = Object.freeze(['cnn', 'cnn_pitch', 'cnn_refined', 'ddx7', 'sine440', 'pitched'] as SystemName[]);

/**
 * Mean and sample standard deviation of a list of values.
 *
 * The standard deviation is the **sample** one (Bessel-corrected, divisor n − 1, pandas'
 * `Series.std()` default), because the evaluated notes are a sample of each family; it is NaN for
 * fewer than two values (undefined, and shown as such rather than as a misleading 0). Two passes
 * (mean, then squared deviations) to avoid the cancellation of the Σx² − n·x̄² shortcut.
 *
 * @param values any finite numbers (not mutated).
 * @returns mean (NaN when empty), std (NaN when fewer than 2 values), count.
 */
export function metricStats(values: readonly number[]): MetricStats {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, count: 0 };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n < 2) return { mean, std: NaN, count: n };
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(ss / (n - 1)), count: n };
}

/**
 * Code-unit order of strings. `localeCompare` would make file bytes depend on the machine's
 * locale; this does not.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts families in NSynth id order (bass … vocal), any unknown family after them in code-unit
 * order, so tables read the same way as the paper's and every run lists families identically.
 */
export function compareFamilies(a: string, b: string): number {
  const ia = NSYNTH_FAMILIES.indexOf(a);
  const ib = NSYNTH_FAMILIES.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return compareCodeUnits(a, b);
}

/**
 * Results in a canonical order: by note_str, then by global note id. Summation order (and so the
 * last bits of every mean) then does not depend on which worker finished first.
 *
 * @returns a new array; the input is not mutated.
 */
export function sortResults(results: readonly NoteResult[]): NoteResult[] {
  return results.slice().sort((a, b) => compareCodeUnits(a.meta.note_str, b.meta.note_str) || a.meta.note - b.meta.note);
}

/** The systems that have distances in at least one of `results`, in SYSTEM_ORDER. */
export function systemsPresent(results: readonly NoteResult[]): SystemName[] {
  return SYSTEM_ORDER.filter((s) => results.some((r) => r.distances[s] !== undefined));
}

/** The families present in `results`, in `compareFamilies` order. */
export function familiesPresent(results: readonly NoteResult[]): string[] {
  return [...new Set(results.map((r) => r.meta.instrument_family_str))].sort(compareFamilies);
}

/** Throws unless every distance of every note is a finite number: a NaN would silently poison a mean. */
function checkFinite(results: readonly NoteResult[]): void {
  for (const r of results) {
    for (const s of SYSTEM_ORDER) {
      const d = r.distances[s];
      if (d === undefined) continue;
      for (const m of METRICS) {
        if (!Number.isFinite(d[m])) throw new Error(`note ${r.meta.note_str}: ${s} ${m} distance is ${d[m]}, not a finite number`);
      }
    }
  }
}

/** Summary rows of one group of notes, one per system present in the group. */
function summarizeGroup(group: string, notes: readonly NoteResult[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const system of SYSTEM_ORDER) {
    const withSystem = notes.filter((r) => r.distances[system] !== undefined);
    if (withSystem.length === 0) continue;
    const stats = {} as Record<Metric, MetricStats>;
    for (const m of METRICS) stats[m] = metricStats(withSystem.map((r) => r.distances[system]![m]));
    const improvementBy: Partial<Record<SystemName, Record<Metric, number>>> = {};
    for (const baseline of BASELINES) {
      if (baseline === system) continue;
      // Compare on the notes that have both, so that a system evaluated on fewer notes (a skipped
      // render) is not credited or blamed for the baseline's other notes. When every note has
      // both, as in a normal run, these are exactly the two group means.
      const paired = withSystem.filter((r) => r.distances[baseline] !== undefined);
      if (paired.length === 0) continue;
      const perMetric = {} as Record<Metric, number>;
      for (const m of METRICS) {
        const base = metricStats(paired.map((r) => r.distances[baseline]![m])).mean;
        const sys = metricStats(paired.map((r) => r.distances[system]![m])).mean;
        perMetric[m] = improvement(base, sys);
      }
      improvementBy[baseline] = perMetric;
    }
    rows.push({ group, system, notes: withSystem.length, stats, improvement: improvementBy });
  }
  return rows;
}

/**
 * The summary of an evaluation (summary.csv, the HTML tables): for 'overall' and then each family
 * present (NSynth id order), one row per system present in that group (SYSTEM_ORDER).
 *
 * - `stats[m]`: mean and **sample** standard deviation (n − 1; NaN for one note) of distance m
 *   over the group's notes that have that system.
 * - `improvement[b][m]`: (mean_b − mean_sys) / mean_b over the notes that have both the system
 *   and baseline b (normally all of the group's notes), a fraction; absent for b = the system.
 *
 * @param results evaluated notes, any order (not mutated); every distance must be finite.
 * @returns rows, overall first; empty when `results` is empty.
 * @throws when a distance is NaN or infinite (the evaluator must skip such a note with a reason).
 */
export function aggregate(results: readonly NoteResult[]): SummaryRow[] {
  checkFinite(results);
  const sorted = sortResults(results);
  if (sorted.length === 0) return [];
  const rows = summarizeGroup(OVERALL_GROUP, sorted);
  for (const family of familiesPresent(sorted)) {
    rows.push(...summarizeGroup(family, sorted.filter((r) => r.meta.instrument_family_str === family)));
  }
  return rows;
}

/**
 * Signed distance of a system's rendered carrier from the note's metadata pitch, cents:
 * 1200·log2(carrier / pitch Hz). Undefined when the system renders no FM patch (or a carrier
 * ≤ 0 Hz, which snapping never leaves). The carrier is
 * not the perceived pitch of every FM patch (sub-carrier ratios move it), but a carrier octaves
 * away from the note's pitch is the first thing to know about a resynthesis.
 */
export function carrierCentsFromPitch(result: NoteResult, system: SystemName): number | undefined {
  const carrierHz = result.snapped[system]?.[0];
  if (carrierHz === undefined || !(carrierHz > 0)) return undefined;
  return 1200 * Math.log2(carrierHz / hzOfMidi(result.meta.pitch));
}

/** Median of |carrierCentsFromPitch| over the notes where the system rendered a patch; NaN if none. */
export function medianCarrierCentsFromPitch(results: readonly NoteResult[], system: SystemName): number {
  const cents = results.map((r) => carrierCentsFromPitch(r, system)).filter((c): c is number => c !== undefined).map(Math.abs).sort((a, b) => a - b);
  if (cents.length === 0) return NaN;
  const m = cents.length >> 1;
  return cents.length % 2 === 1 ? cents[m] : (cents[m - 1] + cents[m]) / 2;
}
