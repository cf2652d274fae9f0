/** Snapping (spec §4) and the target normalisation round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSplit } from '../src/dataset/split.ts';
import { denormalizeTargets, fitTargetNormalization, normalizeTargets, targetTransforms } from '../src/dataset/targets.ts';
import { PARAM_COUNT, RATIO_SET } from '../src/synth/params.ts';
import { snapParams, snapRatio } from '../src/synth/snap.ts';
import { expectClose } from './helpers.ts';

test('ratios snap to the nearest member of R in log distance', () => {
  assert.equal(snapRatio(1.4), 1); // log-midpoint of 1 and 2 is √2 ≈ 1.414
  assert.equal(snapRatio(1.42), 2);
  assert.equal(snapRatio(0.7), 0.5); // √(1/2) ≈ 0.7071 is the midpoint
  assert.equal(snapRatio(0.71), 1);
  assert.equal(snapRatio(100), 8);
  assert.equal(snapRatio(-3), 1 / 8);
  for (const r of RATIO_SET) assert.equal(snapRatio(r * 1.01), r);
});

test('other parameters are clipped to their ranges; NaN is refused', () => {
  const v = [7000, 1.9, 0.13, 3.3, 9, 0.01, -1, 2, 9, 4, 0, 0.001, 1, 0.95, 0.5];
  const s = snapParams(v);
  assert.deepEqual(s, [6000, 2, 1 / 8, 3, 8, 1 / 8, 0, 2, 8, 4, 0, 0.005, 0.6, 0.9, 0.5]);
  assert.throws(() => snapParams([...v.slice(0, 14), NaN]), /release_s is NaN/);
});

test('target normalisation uses the training split only and round-trips, in linear and log space', () => {
  const count = 40;
  const params = new Float64Array(count * PARAM_COUNT);
  for (let i = 0; i < params.length; i++) params[i] = 0.2 + ((i * 7919) % 97) / 10;
  const split = makeSplit(count, 1);
  assert.equal(split.train.length + split.validation.length + split.test.length, count);
  assert.equal(new Set([...split.train, ...split.validation, ...split.test]).size, count);
  assert.deepEqual(makeSplit(5000, 0).test.length, 1250);
  assert.deepEqual(makeSplit(5000, 0).validation.length, 750);
  for (const log of [false, true]) {
    const norm = fitTargetNormalization(params, split.train, targetTransforms(log));
    const z = new Float32Array(PARAM_COUNT);
    // Training rows have zero mean after normalisation.
    const sum = new Float64Array(PARAM_COUNT);
    for (const r of split.train) {
      normalizeTargets(norm, params.subarray(r * PARAM_COUNT, (r + 1) * PARAM_COUNT), z);
      for (let j = 0; j < PARAM_COUNT; j++) sum[j] += z[j];
    }
    for (let j = 0; j < PARAM_COUNT; j++) expectClose(sum[j] / split.train.length, 0, { atol: 1e-5 }, `mean of target ${j}`);
    const row = params.subarray(3 * PARAM_COUNT, 4 * PARAM_COUNT);
    normalizeTargets(norm, row, z);
    const back = denormalizeTargets(norm, z);
    for (let j = 0; j < PARAM_COUNT; j++) expectClose(back[j], row[j], { rtol: 1e-5 }, `round trip ${j}`);
  }
});
