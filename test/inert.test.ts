/**
 * Inert parameters (synth/inert.ts): a parameter flagged inert must leave the render bit-identical
 * when changed alone (checked by rendering, the independent truth), and a ratio or β flagged live
 * must change it; plus hand-derived cases on the paper's routing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { refinePatch } from '../src/eval/refine.ts';
import { getAlgorithm } from '../src/synth/algorithms.ts';
import { inertParameters } from '../src/synth/inert.ts';
import { renderNote } from '../src/synth/note.ts';
import { PARAM_NAMES, PARAM_SPECS, RATIO_SET, vectorToPatch } from '../src/synth/params.ts';
import type { RenderOptions } from '../src/synth/render.ts';

const names = (flags: readonly boolean[]): string[] => PARAM_NAMES.filter((_, j) => flags[j]);

test('paper-3s2p: β of M4 and M5 at 0 silences every modulator; β_3 at 0 silences M1 … M3', () => {
  const alg = getAlgorithm('paper-3s2p');
  const base = [440, 2, 3, 1, 2, 1, 1.5, 2, 2.5, 3, 3.5, 0.01, 0.1, 0.5, 0.2];
  assert.deepEqual(names(inertParameters(base, alg, false)), []);
  const quiet = base.slice();
  quiet[9] = 0; // beta_4
  quiet[10] = 0; // beta_5
  assert.deepEqual(names(inertParameters(quiet, alg, false)), ['ratio_1', 'ratio_2', 'ratio_3', 'ratio_4', 'ratio_5', 'beta_1', 'beta_2', 'beta_3']);
  const noM3 = base.slice();
  noM3[8] = 0; // beta_3: M3 → M4, M5 is cut
  assert.deepEqual(names(inertParameters(noM3, alg, false)), ['ratio_1', 'ratio_2', 'ratio_3', 'beta_1', 'beta_2']);
  const onlyM4 = quiet.slice();
  onlyM4[9] = 1;
  assert.deepEqual(names(inertParameters(onlyM4, alg, false)), ['ratio_5']);
  assert.throws(() => inertParameters(base.slice(1), alg, false), /expected 15/);
});

test('flagged inert ⇔ the render does not change, on random patches over the paper and DX7 routings', () => {
  const rng = seedrandom('inert');
  const pick = (j: number): number => {
    const s = PARAM_SPECS[j]!;
    if (s.name.startsWith('ratio_')) return RATIO_SET[Math.floor(rng() * RATIO_SET.length)]!;
    if (s.name.startsWith('beta_')) return rng() < 0.4 ? 0 : 0.5 + rng() * 3;
    if (s.name === 'carrier_hz') return 200 + rng() * 400;
    return s.min + rng() * (s.max - s.min);
  };
  let inertSeen = 0;
  let liveSeen = 0;
  for (const name of ['paper-3s2p', 'paper-serial', 'dx7-1', 'dx7-4', 'dx7-16', 'dx7-22', 'dx7-32']) {
    const alg = getAlgorithm(name);
    for (const feedback of alg.feedback ? [0, 5] : [0]) {
      const opts: RenderOptions = { sampleRate: 48000, durationSec: 0.03, noteOffSec: 0.02, feedback };
      for (let trial = 0; trial < 3; trial++) {
        const params = PARAM_SPECS.map((_, j) => pick(j));
        const flags = inertParameters(params, alg, feedback > 0);
        const ref = renderNote(vectorToPatch(params), alg, opts);
        PARAM_SPECS.forEach((s, j) => {
          if (!s.name.startsWith('ratio_') && !s.name.startsWith('beta_')) return assert.equal(flags[j], false, s.name);
          const changed = params.slice();
          // A value that differs: the next ratio in R, or β moved to a non-zero value.
          changed[j] = s.name.startsWith('ratio_') ? RATIO_SET[(RATIO_SET.indexOf(params[j]!) + 3) % RATIO_SET.length]! : params[j]! === 2.75 ? 1.25 : 2.75;
          const out = renderNote(vectorToPatch(changed), alg, opts);
          const same = out.every((v, i) => Object.is(v, ref[i]) || v === ref[i]);
          if (flags[j]) inertSeen++;
          else liveSeen++;
          assert.equal(same, flags[j], `${name}, feedback ${feedback}, ${s.name} ${params[j]} → ${changed[j]} (β ${params.slice(6, 11).join(', ')}): flagged ${flags[j] ? 'inert' : 'live'}`);
        });
      }
    }
  }
  assert.ok(inertSeen > 20 && liveSeen > 50, `${inertSeen} inert, ${liveSeen} live cases`);
});

test('the search skips inert parameters: no render is spent on them, and the result is unchanged when they do not matter', () => {
  // Cost depends on parameters 0, 6 and 11 only; 1 … 5 flagged inert.
  const target = [440, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0.1, 0.3, 0.5, 0.3];
  const cost = (p: readonly number[]): number => (12 * Math.log2(p[0]! / target[0]!)) ** 2 + (p[6]! - target[6]!) ** 2 + (p[11]! - target[11]!) ** 2;
  const start = [500, 2, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0.2, 0.3, 0.5, 0.3];
  const moved: number[] = [];
  const inert = (): boolean[] => PARAM_SPECS.map((_, j) => j >= 1 && j <= 5);
  const r = refinePatch([start], (p) => (p.forEach((v, j) => v !== start[j] && moved.push(j)), cost(p)), { evaluations: 300, inert });
  assert.ok(!moved.some((j) => j >= 1 && j <= 5), 'an inert parameter was rendered');
  const plain = refinePatch([start], cost, { evaluations: 300 });
  assert.ok(r.cost <= plain.cost + 1e-12, `${r.cost} vs ${plain.cost}`);
  assert.ok(r.evaluations < plain.evaluations, `${r.evaluations} vs ${plain.evaluations} renders to converge`);
});
