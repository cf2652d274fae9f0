/**
 * Snapping predicted parameters before re-rendering (spec §4): each ratio to the nearest member of
 * R in log-ratio, every other parameter clipped to its range in the parameter table.
 */
import { PARAM_COUNT, PARAM_SPECS, RATIO_SET } from './params.ts';

/** Nearest member of R to `ratio` in log distance (ratio > 0; non-positive or NaN → 1/8, the smallest). */
export function snapRatio(ratio: number): number {
  if (!(ratio > 0)) return RATIO_SET[0];
  const l = Math.log(ratio);
  let best = RATIO_SET[0];
  let bestD = Infinity;
  for (const r of RATIO_SET) {
    const d = Math.abs(Math.log(r) - l);
    if (d < bestD) {
      bestD = d;
      best = r;
    }
  }
  return best;
}

/**
 * Snaps a 15-vector in PARAM_SPECS order and units. NaN in any non-ratio parameter is refused
 * (an error names it): a model that outputs NaN must not produce a silently plausible patch.
 */
export function snapParams(values: ArrayLike<number>): number[] {
  if (values.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} parameters, got ${values.length}`);
  const out: number[] = [];
  for (let j = 0; j < PARAM_COUNT; j++) {
    const s = PARAM_SPECS[j];
    const v = values[j];
    if (Number.isNaN(v)) throw new Error(`predicted ${s.name} is NaN`);
    out.push(s.name.startsWith('ratio_') ? snapRatio(v) : Math.min(s.max, Math.max(s.min, v)));
  }
  return out;
}
