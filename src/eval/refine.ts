/**
 * Analysis by synthesis after the CNN (ours, `eval-nsynth --refine N`): a deterministic pattern
 * search over the 15 patch parameters that re-renders each candidate and keeps it when it is
 * closer to the note. The CNN gives the starting point; the search fixes what one forward pass
 * gets wrong and a re-render can see (pitch, brightness, envelope), at the price of N renders per
 * note. Moves come from the parameter table: log-scale parameters (the carrier) move by a factor,
 * ratios step through the musical set R, linear ones by a fraction of their range; a sweep over
 * all parameters that finds nothing better halves the steps.
 */
import { clipToSpec, PARAM_COUNT, PARAM_SPECS, RATIO_SET } from '../synth/params.ts';
import { snapRatio } from '../synth/snap.ts';

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
  /**
   * Which parameters cannot change the render at a point (see synth/inert.ts): their moves are
   * skipped rather than rendered. Default: none.
   */
  readonly inert?: (params: readonly number[]) => readonly boolean[];
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

/** Parameter `j` moved one step in direction `dir` (±1) at step level `level`; null if it cannot move. */
function moved(params: readonly number[], j: number, dir: 1 | -1, level: number, logStepCents: number, linStepFraction: number): number[] | null {
  const s = PARAM_SPECS[j];
  const v = params[j];
  let next: number;
  if (s.name.startsWith('ratio_')) {
    // Ratios live in R (spec §4): step to the neighbouring member, whatever the level.
    const to = RATIO_SET.indexOf(snapRatio(v)) + dir;
    if (to < 0 || to >= RATIO_SET.length) return null;
    next = RATIO_SET[to];
  } else if (s.scale === 'log') {
    next = clipToSpec(s, v * 2 ** ((dir * logStepCents) / 1200 / 2 ** level));
  } else {
    next = clipToSpec(s, v + (dir * linStepFraction * (s.max - s.min)) / 2 ** level);
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
 * @param cost smaller is better; NaN counts as worse than anything. Called at most once per
 *   distinct vector: a point met again (a later sweep retrying a move that failed) is looked up,
 *   not re-rendered, and does not count against the budget. `bound` is the best cost so far
 *   (Infinity at first): only whether the point beats it matters, so once the cost is known to be
 *   ≥ `bound` the function may stop and return any value ≥ `bound` (a lower bound of the cost).
 *   The search takes the same path either way.
 */
export function refinePatch(starts: readonly (readonly number[])[], cost: (params: readonly number[], bound: number) => number, options: RefineOptions): RefineResult {
  if (starts.length === 0) throw new Error('refinePatch needs a starting point');
  if (!(options.evaluations >= 1)) throw new Error(`refinePatch: evaluations must be ≥ 1, got ${options.evaluations}`);
  const logStepCents = options.logStepCents ?? 100;
  const linStepFraction = options.linStepFraction ?? 1 / 8;
  const halvings = options.halvings ?? 4;
  for (const s of starts) if (s.length !== PARAM_COUNT) throw new Error(`refinePatch: a start has ${s.length} parameters, expected ${PARAM_COUNT}`);
  let evaluations = 0;
  const seen = new Map<string, number>();
  let bestCost = Infinity;
  const measure = (p: readonly number[]): number => {
    const key = p.join(',');
    let c = seen.get(key);
    if (c === undefined) {
      // A value ≥ bestCost (exact or a bound) stays ≥ it: bestCost only falls, so a cached bound
      // rejects the point again exactly as its true cost would.
      c = cost(p, bestCost);
      if (Number.isNaN(c)) c = Infinity;
      seen.set(key, c);
      evaluations++;
    }
    return c;
  };
  // The first start is the answer until something beats it, even if every cost is infinite.
  let best: number[] = starts[0].slice();
  bestCost = measure(best);
  for (const s of starts.slice(1)) {
    if (evaluations >= options.evaluations) break;
    const c = measure(s);
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
      if (options.inert?.(best)[j] === true) continue;
      for (const dir of [1, -1] as const) {
        // Keep going in a direction while it pays.
        for (;;) {
          if (evaluations >= options.evaluations) break;
          const cand = moved(best, j, dir, level, logStepCents, linStepFraction);
          if (!cand) break;
          const c = measure(cand);
          if (!(c < bestCost)) break;
          best = cand;
          bestCost = c;
          improved = true;
        }
      }
    }
    if (!improved) level++;
  }
  return { params: best, cost: bestCost, startCost, evaluations };
}
