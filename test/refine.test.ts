/**
 * The search after the CNN (eval-nsynth --refine): the pattern search on a cost with a known
 * minimum, and on a note rendered from a known patch, where it must find the patch's pitch again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DATASET_CONFIG } from '../src/dataset/config.ts';
import { refinePatch } from '../src/eval/refine.ts';
import { refineStarts } from '../src/eval/evaluate.ts';
import { makeNoteEvaluator, refineCost, renderSnapped } from '../src/eval/resynth.ts';
import { PARAM_SPECS, RATIO_SET } from '../src/synth/params.ts';

/** A separable bowl: squared distance to `target`, in cents/100 for log parameters, in ranges otherwise. */
function bowl(target: readonly number[]): (p: readonly number[]) => number {
  return (p) =>
    PARAM_SPECS.reduce((s, spec, j) => {
      const d = spec.scale === 'log' ? 12 * Math.log2(p[j] / target[j]) : (p[j] - target[j]) / (spec.max - spec.min);
      return s + d * d;
    }, 0);
}

const target = [440, 2, 1 / 3, 5, 1, 8, 0.3, 2.5, 1.2, 6, 0, 0.12, 0.2, 0.45, 0.3];
const start = [523.25, 1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 0.25, 0.31, 0.5, 0.425];

test('the search reaches the minimum of a bowl to within its finest step, within its budget', () => {
  let calls = 0;
  const cost = bowl(target);
  const r = refinePatch([start], (p) => (calls++, cost(p)), { evaluations: 5000 });
  assert.equal(r.evaluations, calls);
  assert.ok(r.evaluations < 5000, 'stops once the finest steps find nothing');
  // Finest steps: 100/2⁴ = 6.25 cents; 1/8 of the range / 2⁴ = range/128. The grid from the start
  // holds a point within half a step of the minimum.
  assert.ok(Math.abs(1200 * Math.log2(r.params[0] / 440)) <= 3.2, `carrier ${r.params[0]}`);
  for (let j = 1; j <= 5; j++) assert.equal(r.params[j], target[j], `ratio ${j}`);
  PARAM_SPECS.forEach((s, j) => {
    if (s.scale === 'lin') assert.ok(Math.abs(r.params[j] - target[j]) <= (s.max - s.min) / 256 + 1e-12, `${s.name} ${r.params[j]}`);
    assert.ok(r.params[j] >= s.min && r.params[j] <= s.max);
  });
  for (let j = 1; j <= 5; j++) assert.ok(RATIO_SET.includes(r.params[j]));
  assert.ok(r.cost < r.startCost);
});

test('the search keeps its budget, starts from the best start, and is deterministic', () => {
  const cost = bowl(target);
  let calls = 0;
  const r = refinePatch([start, target], (p) => (calls++, cost(p)), { evaluations: 25 });
  assert.equal(calls, 25);
  assert.equal(r.startCost, 0, 'the second start is the minimum');
  assert.deepEqual(r.params, target);
  const a = refinePatch([start], cost, { evaluations: 60 });
  const keys = new Set<string>();
  const b = refinePatch([start], (p) => (keys.add(p.join(',')), cost(p)), { evaluations: 60 });
  assert.deepEqual(a, b);
  assert.equal(keys.size, 60, 'no vector is rendered twice');
  assert.equal(a.evaluations, 60);
  // A cost that stops at the bound (returns it when the point cannot win) takes the same path.
  for (const budget of [25, 60, 5000]) {
    const bounded = refinePatch([start, target.map((v, j) => (j === 0 ? v * 1.5 : v))], (p, bound) => (cost(p) >= bound ? bound : cost(p)), { evaluations: budget });
    const exact = refinePatch([start, target.map((v, j) => (j === 0 ? v * 1.5 : v))], cost, { evaluations: budget });
    assert.deepEqual(bounded, exact, `budget ${budget}`);
  }
  assert.throws(() => refinePatch([], cost, { evaluations: 5 }), /starting point/);
  assert.throws(() => refinePatch([start.slice(1)], cost, { evaluations: 5 }), /14 parameters/);
});

test('on a note rendered from a known patch, the search finds its carrier again from 150 cents off', () => {
  const synth = DEFAULT_DATASET_CONFIG;
  const truth = [330, 1, 2, 1, 3, 1, 0.8, 1.5, 0.5, 1.2, 0.7, 0.03, 0.2, 0.6, 0.3];
  const audio = renderSnapped(synth, truth);
  const off = truth.slice();
  off[0] = 330 * 2 ** (150 / 1200);
  off[6] = 2.3;
  off[11] = 0.2;
  const evaluate = makeNoteEvaluator(synth);
  // MIDI 64 ≈ 329.6 Hz: the pitched baseline sits at the note's pitch.
  const r = evaluate({ index: 0, pitch: 64, audio, snapped: { cnn: off }, refine: { starts: [off], evaluations: 300 } });
  assert.ok(r.refined && r.distances.cnn_refined && r.distances.cnn && r.distances.pitched);
  const cents = 1200 * Math.log2(r.refined.params[0] / 330);
  assert.ok(Math.abs(cents) < 10, `carrier ${r.refined.params[0]} Hz (${cents.toFixed(1)} cents)`);
  // The reported distances are the refined patch's, and its cost is the search's.
  assert.ok(Math.abs(refineCost(r.distances.cnn_refined, r.distances.pitched) - r.refined.cost) < 1e-12);
  assert.ok(Math.abs(refineCost(r.distances.cnn, r.distances.pitched) - r.refined.startCost) < 1e-12);
  assert.ok(r.distances.cnn_refined.logmel < 0.5 * r.distances.cnn.logmel, `log-mel ${r.distances.cnn_refined.logmel} vs ${r.distances.cnn.logmel}`);
});

test('a silent note is not searched and does not stop the evaluation', () => {
  const synth = DEFAULT_DATASET_CONFIG;
  let renders = 0;
  const evaluate = makeNoteEvaluator(synth);
  const r = evaluate({ index: 0, pitch: 60, audio: new Float32Array(64000), snapped: {}, refine: { starts: [start, target], evaluations: 50 } });
  assert.ok(r.refined && r.distances.cnn_refined);
  assert.deepEqual(r.refined.params, start);
  assert.equal(r.refined.evaluations, 1);
  // NaN costs count as worse than anything: the first start stays.
  const n = refinePatch([start, target], () => (renders++, NaN), { evaluations: 10 });
  assert.deepEqual(n.params, start);
  assert.ok(renders <= 10);
});

test('the search starts: the CNN patch, at the pitch and an octave either side, and at the pitch with β × 0 and × 1/4', () => {
  // β_4 = 9 is out of range (snapped to 8; a quarter of it, 2.25, is in range); β_5 = −0.1 snaps to 0.
  const predicted = [1234, 1.9, 0.52, 3.1, 7.7, 0.13, 2, 4, 0.4, 9, -0.1, 0.1, 0.2, 0.5, 0.3];
  const starts = refineStarts(predicted, 69);
  const ratios = [2, 1 / 2, 3, 8, 1 / 8];
  const adsr = [0.1, 0.2, 0.5, 0.3];
  const expected = [
    [1234, ...ratios, 2, 4, 0.4, 8, 0, ...adsr],
    [440, ...ratios, 2, 4, 0.4, 8, 0, ...adsr],
    [220, ...ratios, 2, 4, 0.4, 8, 0, ...adsr],
    [880, ...ratios, 2, 4, 0.4, 8, 0, ...adsr],
    [440, ...ratios, 0, 0, 0, 0, 0, ...adsr],
    [440, ...ratios, 0.5, 1, 0.1, 2.25, 0, ...adsr],
  ];
  assert.equal(starts.length, expected.length);
  starts.forEach((s, i) => s.forEach((v, j) => assert.ok(Math.abs(v - expected[i]![j]!) < 1e-12, `start ${i}, parameter ${j}: ${v} vs ${expected[i]![j]}`)));
});
