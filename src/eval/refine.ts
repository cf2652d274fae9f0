/**
 * Analysis by synthesis after the CNN (ours, `eval-nsynth --refine N`): a deterministic pattern
 * search over the 15 patch parameters that re-renders each candidate and keeps it when it is
 * closer to the note. The CNN gives the starting point; the search fixes what one forward pass
 * gets wrong and a re-render can see (pitch, brightness, envelope), at the price of N renders per
 * note. Moves come from the parameter table: log-scale parameters (the carrier) move by a factor,
 * ratios step through the musical set R, linear ones by a fraction of their range; a sweep over
 * all parameters that finds nothing better halves the steps.
 */
import { PARAM_COUNT, PARAM_SPECS, RATIO_SET } from '../synth/params.ts';

/** How far the search may go. */
export interface RefineOptions {
  /** Cost evaluations (renders) allowed, including those of the starting points. ≥ 1. */
  readonly evaluations: number;
  /** First step of log-scale parameters, cents. Default 100 (a semitone). */
  readonly logStepCents?: number;
  /** First step of linear parameters, as a fraction of their range. Default 1/8. */
  readonly linStepFraction?: number;
  /** Times the steps are halved before the search stops. Default 4 (a semitone → 6.25 cents). */
  readonly halvings?: number;
}

/** The search's outcome. */
export interface RefineResult {
  /** Best parameters found, PARAM_SPECS order and units, every value in range (ratios in R). */
  readonly params: number[];
  readonly cost: number;
  /** Cost of the best starting point, for comparison. */
  readonly startCost: number;
  /** Evaluations used. */
  readonly evaluations: number;
}

function clip(j: number, v: number): number {
  const s = PARAM_SPECS[j];
  return Math.min(s.max, Math.max(s.min, v));
}

/** Parameter `j` moved one step in direction `dir` (±1) at step level `level`; null if it cannot move. */
function moved(params: readonly number[], j: number, dir: 1 | -1, level: number, logStepCents: number, linStepFraction: number): number[] | null {
  const s = PARAM_SPECS[j];
  const v = params[j];
  let next: number;
  if (s.name.startsWith('ratio_')) {
    // Ratios live in R (spec §4): step to the neighbouring member, whatever the level.
    const k = RATIO_SET.indexOf(v);
    const to = (k < 0 ? RATIO_SET.findIndex((r) => r >= v) : k) + dir;
    if (to < 0 || to >= RATIO_SET.length) return null;
    next = RATIO_SET[to];
  } else if (s.scale === 'log') {
    next = clip(j, v * 2 ** ((dir * logStepCents) / 1200 / 2 ** level));
  } else {
    next = clip(j, v + (dir * linStepFraction * (s.max - s.min)) / 2 ** level);
  }
  if (next === v) return null;
  const out = params.slice();
  out[j] = next;
  return out;
}

/**
 * Minimises `cost` from the best of `starts`.
 *
 * @param starts candidate starting points (15-vectors, in range, ratios in R), at least one
 * @param cost smaller is better; called once per evaluation, never twice on the same vector in a row
 */
export function refinePatch(starts: readonly (readonly number[])[], cost: (params: readonly number[]) => number, options: RefineOptions): RefineResult {
  if (starts.length === 0) throw new Error('refinePatch needs a starting point');
  if (!(options.evaluations >= 1)) throw new Error(`refinePatch: evaluations must be ≥ 1, got ${options.evaluations}`);
  const logStepCents = options.logStepCents ?? 100;
  const linStepFraction = options.linStepFraction ?? 1 / 8;
  const halvings = options.halvings ?? 4;
  let evaluations = 0;
  let best: number[] = [];
  let bestCost = Infinity;
  for (const s of starts) {
    if (s.length !== PARAM_COUNT) throw new Error(`refinePatch: a start has ${s.length} parameters, expected ${PARAM_COUNT}`);
    if (evaluations >= options.evaluations) break;
    const c = cost(s);
    evaluations++;
    if (c < bestCost) {
      bestCost = c;
      best = s.slice();
    }
  }
  const startCost = bestCost;
  let level = 0;
  while (evaluations < options.evaluations && level <= halvings) {
    let improved = false;
    for (let j = 0; j < PARAM_COUNT && evaluations < options.evaluations; j++) {
      let movedUp = false;
      for (const dir of [1, -1] as const) {
        // Having gone up, going down would only revisit worse points.
        if (dir === -1 && movedUp) break;
        // Keep going in a direction while it pays.
        for (;;) {
          if (evaluations >= options.evaluations) break;
          const cand = moved(best, j, dir, level, logStepCents, linStepFraction);
          if (!cand) break;
          const c = cost(cand);
          evaluations++;
          if (!(c < bestCost)) break;
          best = cand;
          bestCost = c;
          improved = true;
          if (dir === 1) movedUp = true;
        }
      }
    }
    if (!improved) level++;
  }
  return { params: best, cost: bestCost, startCost, evaluations };
}
