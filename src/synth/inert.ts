/**
 * Which patch parameters cannot change a render, given the others: a modulator whose output is
 * scaled by β = 0, or that only modulates such operators, is inaudible, and so is its ratio. A
 * search that re-renders candidates (eval's `--refine`) skips moves of these parameters instead of
 * paying a render to learn that the audio is the same.
 */
import { ALGORITHM_NAMES, type Algorithm, getAlgorithm, OPERATOR_COUNT } from './algorithms.ts';
import { MODULATOR_COUNT, PARAM_COUNT, PARAM_SPECS } from './params.ts';

const RATIO_INDEX = Array.from({ length: MODULATOR_COUNT }, (_, i) => PARAM_SPECS.findIndex((s) => s.name === `ratio_${i + 1}`));
const BETA_INDEX = Array.from({ length: MODULATOR_COUNT }, (_, i) => PARAM_SPECS.findIndex((s) => s.name === `beta_${i + 1}`));
if ([...RATIO_INDEX, ...BETA_INDEX].some((j) => j < 0)) throw new Error('parameter table lacks a ratio_k or beta_k');
for (const name of ALGORITHM_NAMES) {
  const fb = getAlgorithm(name).feedback;
  if (fb && fb.from !== fb.into && !getAlgorithm(name).carriers.includes(fb.from)) {
    throw new Error(`inert.ts: ${name} feeds back from a modulator into another operator; audibleOperators must then treat the unscaled feedback`);
  }
}

/**
 * Operators whose output reaches the voice: a carrier, or an operator with non-zero output
 * amplitude that modulates one that does (least fixed point, so a loop that reaches no carrier is
 * silent). The feedback edge counts as a modulation when `feedbackOn`, but only from an operator
 * with non-zero amplitude: the renderer feeds back the operator's unscaled output, which is sound
 * only because every feedback source in the routings (a self-loop, or the carrier of DX7 4 and 6)
 * is either that operator itself or a carrier (amplitude 1); the module-level check below keeps it so.
 *
 * @param amplitudes output amplitude of each operator (1 for carriers, β for modulators), shape [6]
 */
function audibleOperators(alg: Algorithm, amplitudes: ArrayLike<number>, feedbackOn: boolean): boolean[] {
  const audible = Array.from({ length: OPERATOR_COUNT }, (_, op) => alg.carriers.includes(op));
  for (let changed = true; changed; ) {
    changed = false;
    for (let op = 0; op < OPERATOR_COUNT; op++) {
      if (audible[op] || amplitudes[op] === 0) continue;
      const modulatesAudible =
        alg.inputs.some((ins, to) => audible[to] && ins.includes(op)) ||
        (feedbackOn && alg.feedback !== null && alg.feedback.from === op && audible[alg.feedback.into] === true);
      if (modulatesAudible) {
        audible[op] = true;
        changed = true;
      }
    }
  }
  return audible;
}

/**
 * For each of the 15 parameters (PARAM_SPECS order), whether changing it alone leaves the render
 * bit-identical: `ratio_k` when operator k is inaudible (see above); `beta_k` when operator k is a
 * carrier (its β is unused) or would stay inaudible at any β. The carrier and the envelope always
 * matter.
 *
 * @param params 15 values, PARAM_SPECS order and units
 * @param feedbackOn whether the render has DX7 feedback (amount > 0)
 */
export function inertParameters(params: ArrayLike<number>, alg: Algorithm, feedbackOn: boolean): boolean[] {
  if (params.length !== PARAM_COUNT) throw new Error(`inertParameters: expected ${PARAM_COUNT} values, got ${params.length}`);
  const amplitudes = (betaOverride?: [number, number]): number[] =>
    Array.from({ length: OPERATOR_COUNT }, (_, op) => {
      if (op === 0 || alg.carriers.includes(op)) return 1;
      if (betaOverride && betaOverride[0] === op) return betaOverride[1];
      return params[BETA_INDEX[op - 1] as number] as number;
    });
  const inert = new Array<boolean>(PARAM_COUNT).fill(false);
  const audible = audibleOperators(alg, amplitudes(), feedbackOn);
  for (let k = 1; k <= MODULATOR_COUNT; k++) {
    inert[RATIO_INDEX[k - 1] as number] = !audible[k];
    const isCarrier = alg.carriers.includes(k);
    // With β ≠ 0 would operator k be heard? (Its own β cannot make it or anything it modulates a carrier.)
    inert[BETA_INDEX[k - 1] as number] = isCarrier || !audibleOperators(alg, amplitudes([k, 1]), feedbackOn)[k];
  }
  return inert;
}
