/**
 * The carrier's bin encoding (train-cnn --carrier-head bins): layout, the Gaussian target against
 * its closed form, and the read-out against the bump's true centre.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { carrierBinHz, checkCarrierBins, DEFAULT_CARRIER_BINS as S, decodeCarrierBins, encodeCarrierBins } from '../src/dataset/carrier-bins.ts';
import { expectClose } from './helpers.ts';

const cents = (a: number, b: number): number => 1200 * Math.log2(a / b);

test('20-cent bins cover the carrier range 20 … 6000 Hz', () => {
  // 1200·log2(300) = 9874.6 cents → 494 steps of 20 cents + bin 0.
  assert.equal(S.count, 495);
  assert.equal(carrierBinHz(S, 0), 20);
  assert.ok(carrierBinHz(S, S.count - 1) >= 6000 && carrierBinHz(S, S.count - 2) < 6000);
  expectClose(cents(carrierBinHz(S, 101), carrierBinHz(S, 100)), 20, { atol: 1e-9 }, 'bin spacing');
});

test('the target is exp(−d²/2σ²) of the distance in cents, peaking on the nearest bin', () => {
  const out = new Float32Array(S.count + 3);
  const hz = 440;
  encodeCarrierBins(S, hz, out, 3);
  const c = cents(hz, 20);
  let best = 3;
  for (let k = 0; k < S.count; k++) {
    const d = k * 20 - c;
    expectClose(out[3 + k], Math.exp(-(d * d) / (2 * 25 * 25)), { atol: 1e-7 }, `bin ${k}`);
    if (out[3 + k] > out[best]) best = 3 + k;
  }
  assert.equal(best - 3, Math.round(c / 20));
  assert.throws(() => encodeCarrierBins(S, 0, out), /positive/);
});

test('decode(encode(f)) returns f within 0.5 cent over the range, and a one-hot bin its centre', () => {
  const rng = seedrandom('bins');
  const act = new Float32Array(S.count);
  let worst = 0;
  for (let i = 0; i < 2000; i++) {
    // Away from the two ends, where the bump is cut and the mean pulls inwards.
    const hz = 25 * 2 ** (rng() * Math.log2(5800 / 25));
    encodeCarrierBins(S, hz, act);
    worst = Math.max(worst, Math.abs(cents(decodeCarrierBins(S, act), hz)));
  }
  assert.ok(worst < 0.5, `worst ${worst} cents`);
  for (const hz of [20, 6000]) {
    encodeCarrierBins(S, hz, act);
    assert.ok(Math.abs(cents(decodeCarrierBins(S, act), hz)) < 15, `${hz} Hz at the edge`);
  }
  act.fill(0);
  act[250] = 0.9;
  expectClose(decodeCarrierBins(S, act), carrierBinHz(S, 250), { rtol: 1e-12 }, 'one-hot');
  assert.throws(() => checkCarrierBins({ ...S, count: 1 }), /invalid carrier bin layout/);
});
