/**
 * The fixed FM configurations of DDX7 (Caspe et al. 2022, §4.3 and Fig. 3–4): routing, frequency
 * ratios and carriers of the three instrument patches taken from the DX7's factory set, and the
 * ablated stacks of §5.2.2. Pure data: the differentiable synth (`src/model/ddx7-synth.ts`) and
 * any float64 reference read the same table.
 *
 * Operators are numbered 1…n as on the DX7. In every configuration a modulator has a higher number
 * than the operator it modulates, so rendering from n down to 1 visits modulators first.
 */

/** One FM configuration ("patch constraint", paper §3.1): routing and ratios stay fixed. */
export interface Ddx7Patch {
  /** Name accepted by `--patch`. */
  readonly name: string;
  /** What it is, e.g. the DX7 factory patch name. */
  readonly describe: string;
  /** Frequency ratio of operator i + 1 to f0, index i (dimensionless). Its length is the operator count. */
  readonly ratios: readonly number[];
  /** Modulations as [modulator, target] pairs, operator numbers 1…n. No feedback (paper §3.1). */
  readonly modulations: readonly (readonly [number, number])[];
  /** Operators summed into the output, numbers 1…n. */
  readonly carriers: readonly number[];
  /** Default maximum modulation index I_max in radians (paper Table 1: 2 flute/violin, 2π trumpet). */
  readonly defaultImax: number;
}

function freezePatch(p: Ddx7Patch): Ddx7Patch {
  return Object.freeze({
    ...p,
    ratios: Object.freeze([...p.ratios]),
    modulations: Object.freeze(p.modulations.map((m) => Object.freeze([m[0], m[1]] as const))),
    carriers: Object.freeze([...p.carriers]),
  });
}

/** Every configuration, by `--patch` name. */
export const DDX7_PATCHES: Readonly<Record<string, Ddx7Patch>> = Object.freeze({
  // STRINGS 1: OP6→OP5→OP4→OP3 and OP2→OP1, carriers 1 and 3.
  violin: freezePatch({
    name: 'violin',
    describe: 'DX7 "STRINGS 1": 6→5→4→3 and 2→1, carriers 1 and 3',
    ratios: [1, 1, 1, 1, 3, 14],
    modulations: [[6, 5], [5, 4], [4, 3], [2, 1]],
    carriers: [1, 3],
    defaultImax: 2,
  }),
  // FLUTE 1: two 2-stacks (6→5, 4→3) and OP2 all modulate the single carrier OP1.
  flute: freezePatch({
    name: 'flute',
    describe: 'DX7 "FLUTE 1": 6→5 and 4→3; 5, 3 and 2 modulate carrier 1',
    ratios: [1, 1, 1, 2, 2, 1.5],
    modulations: [[6, 5], [4, 3], [5, 1], [3, 1], [2, 1]],
    carriers: [1],
    defaultImax: 2,
  }),
  // BRASS 3: a 3-stack (6→5→4), OP3 and OP2 modulate the single carrier OP1.
  trumpet: freezePatch({
    name: 'trumpet',
    describe: 'DX7 "BRASS 3": 6→5→4; 4, 3 and 2 modulate carrier 1',
    ratios: [1, 1, 1, 1, 3.2, 8.5],
    modulations: [[6, 5], [5, 4], [4, 1], [3, 1], [2, 1]],
    carriers: [1],
    defaultImax: 2 * Math.PI,
  }),
  // Ablations (paper §5.2.2, Fig. 4).
  'stack2': freezePatch({
    name: 'stack2',
    describe: 'ablation: one 2-operator stack 2→1',
    ratios: [1, 1],
    modulations: [[2, 1]],
    carriers: [1],
    defaultImax: 2,
  }),
  'stack4': freezePatch({
    name: 'stack4',
    describe: 'ablation: one 4-operator stack 4→3→2→1',
    ratios: [1, 1, 3, 14],
    modulations: [[4, 3], [3, 2], [2, 1]],
    carriers: [1],
    defaultImax: 2,
  }),
  // The facts give the routing (the reference code's fm_2stack2) but not the ratios; ours are the
  // flute's first four operators. Documented as our choice.
  'two-stack2': freezePatch({
    name: 'two-stack2',
    describe: 'ablation: two 2-operator stacks 4→3 and 2→1, carriers 1 and 3 (ratios ours: [1, 1, 1, 2])',
    ratios: [1, 1, 1, 2],
    modulations: [[4, 3], [2, 1]],
    carriers: [1, 3],
    defaultImax: 2,
  }),
});

/** Names accepted by {@link ddx7Patch}, instruments first. */
export const DDX7_PATCH_NAMES: readonly string[] = Object.freeze(Object.keys(DDX7_PATCHES));

/** An unknown patch name (a user error: the CLI prints it as one line). */
export class UnknownPatchError extends Error {}

/**
 * The configuration called `name`.
 *
 * @throws UnknownPatchError listing the known names.
 */
export function ddx7Patch(name: string): Ddx7Patch {
  const p = Object.prototype.hasOwnProperty.call(DDX7_PATCHES, name) ? DDX7_PATCHES[name] : undefined;
  if (p === undefined) throw new UnknownPatchError(`unknown patch '${name}' (expected one of ${DDX7_PATCH_NAMES.join(', ')})`);
  return p;
}

/** Operator count of a patch. */
export function operatorCount(p: Ddx7Patch): number {
  return p.ratios.length;
}

/** True when operator `op` (1…n) is a carrier. */
export function isCarrier(p: Ddx7Patch, op: number): boolean {
  return p.carriers.includes(op);
}

/**
 * Maximum output level of each operator, index i for operator i + 1 (paper eq. 4): 1 for a
 * carrier (an amplitude), `iMax` for a modulator (a modulation index in radians).
 */
export function maxLevels(p: Ddx7Patch, iMax: number): number[] {
  return p.ratios.map((_, i) => (isCarrier(p, i + 1) ? 1 : iMax));
}

/** Modulators of operator `op` (1…n), ascending. */
export function modulatorsOf(p: Ddx7Patch, op: number): number[] {
  return p.modulations.filter((m) => m[1] === op).map((m) => m[0]).sort((a, b) => a - b);
}

/**
 * Checks a patch: ratios positive, operator numbers in range, modulators numbered above their
 * targets (so n…1 is a valid render order), at least one carrier.
 *
 * @throws Error naming the problem.
 */
export function validatePatch(p: Ddx7Patch): void {
  const n = p.ratios.length;
  if (n < 1) throw new Error(`patch ${p.name}: no operators`);
  for (const r of p.ratios) if (!(r > 0 && Number.isFinite(r))) throw new Error(`patch ${p.name}: ratio ${r} is not positive`);
  const inRange = (op: number): boolean => Number.isInteger(op) && op >= 1 && op <= n;
  for (const [from, to] of p.modulations) {
    if (!inRange(from) || !inRange(to)) throw new Error(`patch ${p.name}: modulation ${from}→${to} names an operator outside 1…${n}`);
    if (from <= to) throw new Error(`patch ${p.name}: modulation ${from}→${to} must go from a higher to a lower operator`);
  }
  if (p.carriers.length === 0 || !p.carriers.every(inRange)) throw new Error(`patch ${p.name}: carriers must be operators 1…${n}`);
}
