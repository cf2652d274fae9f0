/**
 * Operator routings ("algorithms") of the 6-operator synth: the paper's two and the DX7's 32
 * (spec §2). Operators are indexed 0…5 here. Operator 0 is the patch's carrier (`carrier_hz`,
 * amplitude 1); operator k (1…5) runs at `ratio_k × carrier_hz` and, as a modulator, has
 * amplitude `beta_k` (its output is a phase offset in radians). For the DX7 routings, DX7
 * operator j is index j − 1; DX7 operator 1 is a carrier in all 32 algorithms, so it is always
 * the patch's carrier.
 */
import dx7Table from './dx7-algorithms.json' with { type: 'json' };

/** Number of operators in every algorithm. */
export const OPERATOR_COUNT = 6;

/** A routing, validated and with a render order. */
export interface Algorithm {
  /** `paper-3s2p`, `paper-serial` or `dx7-1` … `dx7-32`. */
  readonly name: string;
  /** One-line description. */
  readonly describe: string;
  /** Operator indices (0…5) whose outputs are mixed to the voice output, ascending. */
  readonly carriers: readonly number[];
  /** For each operator, the operators that phase-modulate it (excluding the feedback edge). */
  readonly inputs: readonly (readonly number[])[];
  /** The one-sample-delayed feedback edge, if the routing has one. */
  readonly feedback: { readonly from: number; readonly into: number } | null;
  /** A topological order of the operators over `inputs` (modulators before what they modulate). */
  readonly order: readonly number[];
}

interface RawRouting {
  algorithm: number;
  carriers: number[];
  modulations: [number, number][];
  feedback?: { from: number; into: number };
}

function build(
  name: string,
  describe: string,
  carriers: number[],
  modulations: [number, number][],
  feedback: { from: number; into: number } | null,
): Algorithm {
  const inputs: number[][] = Array.from({ length: OPERATOR_COUNT }, () => []);
  for (const [from, to] of modulations) {
    if (from === to || from < 0 || to < 0 || from >= OPERATOR_COUNT || to >= OPERATOR_COUNT) {
      throw new Error(`algorithm ${name}: bad modulation ${from} → ${to}`);
    }
    inputs[to].push(from);
  }
  for (const list of inputs) list.sort((a, b) => a - b);
  // Kahn's algorithm; the feedback edge is delayed by a sample, so it is not an ordering constraint.
  const indegree = inputs.map((l) => l.length);
  const order: number[] = [];
  const ready = indegree.flatMap((d, i) => (d === 0 ? [i] : []));
  while (ready.length > 0) {
    ready.sort((a, b) => b - a);
    const op = ready.pop() as number;
    order.push(op);
    for (let to = 0; to < OPERATOR_COUNT; to++) {
      if (inputs[to].includes(op) && --indegree[to] === 0) ready.push(to);
    }
  }
  if (order.length !== OPERATOR_COUNT) throw new Error(`algorithm ${name}: routing has a cycle`);
  if (carriers.length === 0) throw new Error(`algorithm ${name}: no carrier`);
  // The renderer mixes carriers straight into the output; a carrier that also modulated another
  // operator would need its own buffer. No DX7 routing does that, so it is refused here.
  for (const [from] of modulations) {
    if (carriers.includes(from)) throw new Error(`algorithm ${name}: carrier ${from} also modulates`);
  }
  return Object.freeze({
    name,
    describe,
    carriers: Object.freeze([...carriers].sort((a, b) => a - b)),
    inputs: Object.freeze(inputs.map((l) => Object.freeze(l))),
    feedback: feedback ? Object.freeze({ ...feedback }) : null,
    order: Object.freeze(order),
  });
}

const C = 0;
const M = [0, 1, 2, 3, 4, 5]; // M[k] is modulator k's operator index, k = 1…5

const registry = new Map<string, Algorithm>();
registry.set(
  'paper-3s2p',
  build(
    'paper-3s2p',
    'paper: M1 → M2 → M3, M3 → M4 and M5 in parallel, M4 + M5 → carrier (three serial, two parallel)',
    [C],
    [[M[1], M[2]], [M[2], M[3]], [M[3], M[4]], [M[3], M[5]], [M[4], C], [M[5], C]],
    null,
  ),
);
registry.set(
  'paper-serial',
  build('paper-serial', 'paper: M1 → M2 → M3 → M4 → M5 → carrier', [C], [[M[1], M[2]], [M[2], M[3]], [M[3], M[4]], [M[4], M[5]], [M[5], C]], null),
);
for (const raw of dx7Table as RawRouting[]) {
  const name = `dx7-${raw.algorithm}`;
  const fb = raw.feedback ? { from: raw.feedback.from - 1, into: raw.feedback.into - 1 } : null;
  registry.set(
    name,
    build(
      name,
      `DX7 algorithm ${raw.algorithm}: carriers ${raw.carriers.join(', ')}; feedback ${raw.feedback ? `${raw.feedback.from} → ${raw.feedback.into}` : 'none'}`,
      raw.carriers.map((j) => j - 1),
      raw.modulations.map(([a, b]) => [a - 1, b - 1] as [number, number]),
      fb,
    ),
  );
}

/** Every algorithm name, in a stable order: the paper's two, then dx7-1 … dx7-32. */
export const ALGORITHM_NAMES: readonly string[] = Object.freeze([...registry.keys()]);

/** The default algorithm (the paper's results use it). */
export const DEFAULT_ALGORITHM = 'paper-3s2p';

/**
 * Looks an algorithm up by name. Throws an Error naming the valid choices for an unknown name.
 */
export function getAlgorithm(name: string): Algorithm {
  const alg = registry.get(name);
  if (!alg) throw new Error(`unknown algorithm '${name}' (choose paper-3s2p, paper-serial or dx7-1 … dx7-32)`);
  return alg;
}

/** Operators that `op` reaches through modulation edges (what it modulates, directly or not). */
export function downstreamOf(alg: Algorithm, op: number): Set<number> {
  const seen = new Set<number>();
  const stack = [op];
  while (stack.length > 0) {
    const cur = stack.pop() as number;
    for (let to = 0; to < OPERATOR_COUNT; to++) {
      if (alg.inputs[to].includes(cur) && !seen.has(to)) {
        seen.add(to);
        stack.push(to);
      }
    }
  }
  return seen;
}
