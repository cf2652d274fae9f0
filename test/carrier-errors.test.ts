/**
 * The carrier-error breakdown of the training reports: nearest simple ratios, the sorting of
 * misses, the per-band sums, and the chance level against a closed form and a numerical integral.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { besselJ0 } from '../src/dsp/bessel.ts';
import { carrierComponentDb, carrierErrorStructure, rightByCarrierLevel, simplestRatioNear } from '../src/eval/carrier-errors.ts';

const cents = (c: number): number => 2 ** (c / 1200);

test('simplestRatioNear finds the simplest fraction within the tolerance', () => {
  assert.deepEqual(simplestRatioNear(2), { num: 2, den: 1, cents: 0 });
  const r = simplestRatioNear(1.5 * cents(5));
  assert.equal(`${r?.num}/${r?.den}`, '3/2');
  assert.ok(Math.abs((r?.cents ?? 0) - 5) < 1e-9);
  assert.equal(`${simplestRatioNear((1 / 7) * cents(-3))?.num}/${simplestRatioNear((1 / 7) * cents(-3))?.den}`, '1/7');
  // 2^0.3 = 1.2311: 5/4 is 26.6 cents away, 6/5 44 cents: nothing within 10.
  assert.equal(simplestRatioNear(2 ** 0.3), null);
  // 8/7 itself; with a 40-cent tolerance 7/6 (35.7 cents away, smaller terms) is preferred.
  assert.equal(simplestRatioNear(8 / 7)?.den, 7);
  assert.equal(`${simplestRatioNear(8 / 7, 8, 40)?.num}/${simplestRatioNear(8 / 7, 8, 40)?.den}`, '7/6');
  // Terms above maxTerm are not considered.
  assert.equal(simplestRatioNear(9 / 8, 8, 1), null);
  assert.equal(`${simplestRatioNear(9 / 8, 9, 1)?.num}/${simplestRatioNear(9 / 8, 9, 1)?.den}`, '9/8');
  for (const bad of [0, -1, Number.NaN, Infinity]) assert.equal(simplestRatioNear(bad), null);
});

test('carrierErrorStructure sorts the misses and sums the errors per band', () => {
  const pairs = [
    { truthHz: 100, predictedHz: 101 }, // right (17 cents)
    { truthHz: 200, predictedHz: 400 }, // 2/1
    { truthHz: 1500, predictedHz: 1500 * 1.3 }, // 454 cents, near no simple ratio within 10 cents
    { truthHz: 6000, predictedHz: 4000 }, // 2/3, in the last band (edge included)
    { truthHz: 2500, predictedHz: 5000 * cents(4) }, // 2/1, 4 cents off
    { truthHz: 3000, predictedHz: 1000 }, // 1/3
  ];
  const s = carrierErrorStructure(pairs);
  assert.equal(s.notes, 6);
  assert.equal(s.right, 1);
  assert.equal(s.atRatio, 4);
  assert.equal(s.elsewhere, 1);
  assert.deepEqual(
    s.confusions.map((c) => [`${c.num}/${c.den}`, c.count]),
    [['2/1', 2], ['1/3', 1], ['2/3', 1]],
  );
  const band = (lo: number): { notes: number; right: number; absErrorHz: number } | undefined => s.bands.find((b) => b.loHz === lo);
  assert.deepEqual([band(20)?.notes, band(20)?.right], [2, 1]);
  assert.ok(Math.abs((band(20)?.absErrorHz ?? 0) - (1 + 200)) < 1e-9);
  assert.equal(band(5000)?.notes, 1);
  assert.equal(band(5000)?.absErrorHz, 2000);
  // Band sums over all notes give the carrier's MAE.
  const mae = pairs.reduce((a, p) => a + Math.abs(p.predictedHz - p.truthHz), 0) / pairs.length;
  assert.ok(Math.abs(s.bands.reduce((a, b) => a + b.absErrorHz, 0) / s.notes - mae) < 1e-9);
  assert.throws(() => carrierErrorStructure(pairs, { bandEdgesHz: [20, 10] }), /ascending/);
});

test('the chance level is the covered share of the cents axis around each miss', () => {
  // Closed form with terms ≤ 2 (fractions at |cents| 0 and 1200): a miss of 1,200 cents has the
  // window [1100, 1300], of which [1190, 1210] is covered with a 10-cent tolerance: 0.1. A miss of
  // 60 cents: the window starts at the 50-cent threshold, [50, 250], nothing covered.
  const s = carrierErrorStructure([{ truthHz: 100, predictedHz: 200 }, { truthHz: 100, predictedHz: 100 * cents(60) }], { maxTerm: 2 });
  assert.ok(Math.abs(s.chanceShare - (0.1 + 0) / 2) < 1e-12, `${s.chanceShare}`);
  // One outlier (a prediction clamped to 1 mHz, ≈ 23,000 cents off) moves only its own term.
  const withOutlier = carrierErrorStructure([{ truthHz: 100, predictedHz: 200 }, { truthHz: 100, predictedHz: 100 * cents(60) }, { truthHz: 5000, predictedHz: 0 }], { maxTerm: 2 });
  assert.ok(Math.abs(withOutlier.chanceShare - 0.1 / 3) < 1e-12, `${withOutlier.chanceShare}`);
  // Terms ≤ 8, misses of 700 and 3,000 cents: against a numerical integral over each window.
  const t = carrierErrorStructure([{ truthHz: 100, predictedHz: 100 * cents(3000) }, { truthHz: 100, predictedHz: 100 * cents(-700) }]);
  const fr: number[] = [];
  for (let a = 1; a <= 8; a++) for (let b = 1; b <= 8; b++) if (a !== b) fr.push(Math.abs(1200 * Math.log2(a / b)));
  const covered = (lo: number, hi: number): number => {
    let hit = 0;
    const steps = 200_000;
    for (let i = 0; i < steps; i++) {
      const c = lo + ((i + 0.5) * (hi - lo)) / steps;
      if (fr.some((f) => Math.abs(c - f) <= 10)) hit++;
    }
    return hit / steps;
  };
  const expected = (covered(2900, 3100) + covered(600, 800)) / 2;
  assert.ok(Math.abs(t.chanceShare - expected) < 1e-4, `${t.chanceShare} vs ${expected}`);
  assert.equal(carrierErrorStructure([{ truthHz: 100, predictedHz: 100 }]).chanceShare, 0);
});

test('besselJ0 matches reference values (scipy.special.j0) and its integral form', () => {
  const ref: [number, number][] = [[0, 1], [0.5, 0.938469807240813], [1, 0.7651976865579665], [2.404825557695773, 0], [3, -0.2600519549019335], [5, -0.1775967713143383], [5.520078110286311, 0], [8, 0.1716508071375539], [-8, 0.1716508071375539], [12, 0.04768931079683335], [20, 0.16702466434058322], [30, -0.08636798358104031]];
  for (const [x, v] of ref) assert.ok(Math.abs(besselJ0(x) - v) < (Math.abs(x) <= 8 ? 1e-13 : 1e-9), `J0(${x}) = ${besselJ0(x)}, expected ${v}`);
  // J0(x) = (1/π) ∫_0^π cos(x sin θ) dθ, by the midpoint rule (spectrally accurate for this periodic integrand).
  for (const x of [0.3, 1.7, 4.2, 6.9, 15.5, 22.5]) {
    const n = 2000;
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.cos(x * Math.sin((Math.PI * (i + 0.5)) / n));
    assert.ok(Math.abs(besselJ0(x) - s / n) < 1e-9, `J0(${x})`);
  }
});

test('carrierComponentDb is the level of the carrier partial of a two-modulator phase modulation (measured by a DFT)', () => {
  // sin(2π·fc·t + β4·sin(2π·f4·t) + β5·sin(2π·f5·t)) over 1 s at 8 kHz: every partial on a DFT bin;
  // f4 and f5 chosen so that no sideband within reach lands on fc.
  const rate = 8000;
  const [fc, f4, f5] = [1000, 137, 211];
  for (const [b4, b5] of [[0.5, 1.2], [2.0, 0.7], [2.404825557695773, 1.0], [3.3, 4.1]] as const) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < rate; n++) {
      const t = n / rate;
      const x = Math.sin(2 * Math.PI * fc * t + b4 * Math.sin(2 * Math.PI * f4 * t) + b5 * Math.sin(2 * Math.PI * f5 * t));
      re += x * Math.cos(2 * Math.PI * fc * t);
      im += x * Math.sin(2 * Math.PI * fc * t);
    }
    const amp = (2 * Math.hypot(re, im)) / rate;
    const db = carrierComponentDb([0, 0, 0, b4, b5], [4, 5]);
    if (amp > 1e-6) assert.ok(Math.abs(20 * Math.log10(amp) - db) < 1e-6, `β ${b4}, ${b5}: measured ${20 * Math.log10(amp)} dB, formula ${db} dB`);
    else assert.ok(db < -100, `β ${b4}: an empty carrier should read below −100 dB, got ${db}`);
  }
  assert.equal(carrierComponentDb([1, 2, 3, 0, 0], [4, 5]), 0, 'no modulation of the carrier: 0 dB');
  assert.throws(() => carrierComponentDb([1, 2], [4]), /no index for modulator 4/);
});

test('rightByCarrierLevel counts right carriers per level band, the top band closed', () => {
  const item = (levelDb: number, cents: number) => ({ truthHz: 1000, predictedHz: 1000 * 2 ** (cents / 1200), levelDb });
  const bands = rightByCarrierLevel([item(-120, 0), item(-30, 10), item(-25, 600), item(-10, 49), item(0, 0), item(-0.5, 51), item(-7, 1200)]);
  assert.deepEqual(bands.map((b) => [b.loDb, b.hiDb, b.notes, b.right]), [
    [-Infinity, -30, 1, 1],
    [-30, -20, 2, 1],
    [-20, -10, 0, 0],
    [-10, -5, 2, 1],
    [-5, 0, 2, 1],
  ]);
  assert.throws(() => rightByCarrierLevel([], 50, [0, -10]), /ascending/);
});
