/** Remez exchange: against scipy.signal.remez, and against the alternation theorem itself. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remez, symmetricAmplitude, type RemezBand } from '../src/dsp/remez.ts';
import { expectClose } from './helpers.ts';

const BANDS: RemezBand[] = [
  { low: 0, high: 0.2, desired: 1, weight: 1 },
  { low: 0.25, high: 0.5, desired: 0, weight: 10 },
];

// scipy 1.17.1: scipy.signal.remez(31, [0, 0.2, 0.25, 0.5], [1, 0], weight=[1, 10]), taps 0–15
// (the rest mirror). scipy's grid differs slightly from ours, hence the 5e-5 tolerance.
const SCIPY_31 = [
  2.841245899908e-3, -1.077365531955e-2, -2.479089384282e-2, -1.877809592004e-2, 8.970578391239e-3,
  2.222997944879e-2, -3.808475938626e-3, -3.235021920526e-2, -9.090845317787e-3, 4.294979186172e-2,
  3.402468474174e-2, -5.210400924162e-2, -8.668988577016e-2, 5.833232277496e-2, 3.115660455124e-1,
  4.394871024097e-1,
];

test('remez: 31-tap lowpass matches scipy.signal.remez', () => {
  const d = remez(31, BANDS);
  assert.ok(d.converged);
  assert.equal(d.taps.length, 31);
  for (let k = 0; k < 16; k++) {
    expectClose(d.taps[k], SCIPY_31[k], { atol: 5e-5 }, `h[${k}]`);
    assert.equal(d.taps[k], d.taps[30 - k], `symmetry at ${k}`);
  }
});

test('remez: weighted error is equiripple and alternates M + 2 times on a dense grid', () => {
  const n = 41;
  const m = (n - 1) / 2;
  const d = remez(n, BANDS, { gridDensity: 64 });
  assert.ok(d.converged);
  // Dense grid, 20× finer than the design grid; weighted error E = W·(D − A).
  const pts: { f: number; e: number }[] = [];
  for (const b of BANDS) {
    const count = 20000;
    for (let i = 0; i <= count; i++) {
      const f = b.low + ((b.high - b.low) * i) / count;
      pts.push({ f, e: b.weight * (b.desired - symmetricAmplitude(d.taps, f)) });
    }
  }
  const maxErr = Math.max(...pts.map((p) => Math.abs(p.e)));
  // Within 0.3 %: the design only sees its own (finite) grid, the check a 20× finer one.
  expectClose(maxErr, d.deviation, { rtol: 3e-3 }, 'max weighted error vs δ');
  // Count sign-alternating extrema reaching |δ| (within 0.5 %): the alternation theorem's M + 2.
  let count = 0;
  let lastSign = 0;
  for (let i = 0; i < pts.length; i++) {
    const e = pts[i].e;
    if (Math.abs(e) < d.deviation * 0.995) continue;
    const s = Math.sign(e);
    if (s !== lastSign) {
      count++;
      lastSign = s;
    }
  }
  assert.ok(count >= m + 2, `alternations ${count} < M + 2 = ${m + 2}`);
  // And each band's error is δ/W: passband 10× the stopband here.
  const passErr = Math.max(...pts.filter((p) => p.f <= 0.2).map((p) => Math.abs(p.e)));
  const stopAmp = Math.max(...pts.filter((p) => p.f >= 0.25).map((p) => Math.abs(p.e) / 10));
  expectClose(passErr / stopAmp, 10, { rtol: 2e-3 }, 'passband/stopband error ratio');
});

test('remez: refuses even lengths and malformed bands', () => {
  assert.throws(() => remez(30, BANDS), /odd/);
  assert.throws(() => remez(31, [{ low: 0.3, high: 0.2, desired: 1, weight: 1 }]), /edges/);
  assert.throws(() => remez(31, [BANDS[1], BANDS[0]]), /ascending/);
  assert.throws(() => remez(31, [{ low: 0, high: 0.2, desired: 1, weight: 0 }]), /weight/);
});
