/** The random patch sampler against the paper's distributions (spec §1) and its determinism. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PARAM_SPECS, patchProblem, patchToVector, RATIO_SET } from '../src/synth/params.ts';
import { samplePatch } from '../src/synth/sampler.ts';
import { expectClose } from './helpers.ts';

const keep = { seed: 0, nyquist: 'keep' as const, nyquistHz: 24000 };

test('patch i depends only on (seed, i)', () => {
  assert.deepEqual(samplePatch(17, keep), samplePatch(17, keep));
  assert.notDeepEqual(samplePatch(17, keep).patch, samplePatch(18, keep).patch);
  assert.notDeepEqual(samplePatch(17, keep).patch, samplePatch(17, { ...keep, seed: 1 }).patch);
  assert.throws(() => samplePatch(-1, keep), /non-negative integer/);
});

test('draws follow the paper: 90 % musical ratios, β buckets 20/60/20, uniform ADSR, all in range', () => {
  const n = 20000;
  let inSet = 0;
  const betaBuckets = [0, 0, 0];
  const sums = new Float64Array(PARAM_SPECS.length);
  for (let i = 0; i < n; i++) {
    const { patch } = samplePatch(i, keep);
    assert.equal(patchProblem(patch), null);
    for (const r of patch.ratios) if (RATIO_SET.includes(r)) inSet++;
    for (const b of patch.betas) betaBuckets[b < 0.5 ? 0 : b < 3 ? 1 : 2]++;
    const v = patchToVector(patch);
    for (let j = 0; j < v.length; j++) sums[j] += v[j];
  }
  // Binomial standard errors are ≤ 0.0015 here; 0.01 is > 6 σ.
  expectClose(inSet / (5 * n), 0.9, { atol: 0.01 }, 'share of ratios from R');
  expectClose(betaBuckets[0] / (5 * n), 0.2, { atol: 0.01 }, 'β in [0, 0.5)');
  expectClose(betaBuckets[1] / (5 * n), 0.6, { atol: 0.01 }, 'β in [0.5, 3)');
  expectClose(betaBuckets[2] / (5 * n), 0.2, { atol: 0.01 }, 'β in [3, 8]');
  // Uniform parameters: the mean is the range's midpoint (σ of the mean ≈ 0.2 % of the range).
  for (const name of ['carrier_hz', 'attack_s', 'decay_s', 'sustain', 'release_s']) {
    const j = PARAM_SPECS.findIndex((s) => s.name === name);
    const s = PARAM_SPECS[j];
    expectClose(sums[j] / n, (s.min + s.max) / 2, { atol: 0.01 * (s.max - s.min) }, `mean ${name}`);
  }
});

test("the 'redraw' policy keeps every operator below Nyquist and changes nothing else", () => {
  let above = 0;
  for (let i = 0; i < 2000; i++) {
    const k = samplePatch(i, keep);
    const r = samplePatch(i, { ...keep, nyquist: 'redraw' });
    if (k.aboveNyquist) above++;
    assert.equal(r.aboveNyquist, false);
    assert.ok(r.patch.carrierHz * Math.max(...r.patch.ratios) < 24000);
    assert.deepEqual({ ...r.patch, ratios: [] }, { ...k.patch, ratios: [] });
    if (!k.aboveNyquist) assert.deepEqual(r.patch, k.patch);
  }
  assert.ok(above > 100, `only ${above} of 2000 patches exceed Nyquist under 'keep'`);
});
