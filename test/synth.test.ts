/**
 * The synth engine against closed forms: a pure sine at β = 0, Bessel sidebands of an FM pair,
 * sidebands that vanish with their modulator in every DX7 routing, exact phase over 4 s, envelope
 * breakpoints, and the block renderer against the sample-by-sample Math.sin reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALGORITHM_NAMES, getAlgorithm, OPERATOR_COUNT } from '../src/synth/algorithms.ts';
import { adsrLevel, applyAdsrInPlace } from '../src/synth/envelope.ts';
import { type Patch } from '../src/synth/params.ts';
import { PAPER_RENDER, type RenderOptions, renderOscillators, renderVoice, renderVoiceReference } from '../src/synth/render.ts';
import { samplePatch } from '../src/synth/sampler.ts';
import { SHARED_DIR, expectClose } from './helpers.ts';

const FS = 48000;

/**
 * Amplitude of the component at `freqHz` (an exact bin of an N-sample periodic signal): 2|X(f)|/N,
 * by Goertzel's recurrence (one multiply-add per sample, no trigonometry in the loop).
 */
function toneAmplitude(x: ArrayLike<number>, freqHz: number, sampleRate: number): number {
  const w = (2 * Math.PI * freqHz) / sampleRate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / x.length;
}

/** Bessel function of the first kind J_n(x), by its power series (converges fast for x ≤ 10). */
function besselJ(n: number, x: number): number {
  const m = Math.abs(n);
  let term = Math.pow(x / 2, m);
  for (let k = 1; k <= m; k++) term /= k;
  let sum = term;
  for (let k = 1; k < 200; k++) {
    term *= -((x / 2) * (x / 2)) / (k * (k + m));
    sum += term;
    if (Math.abs(term) < 1e-18) break;
  }
  return n < 0 && m % 2 === 1 ? -sum : sum;
}

const basePatch: Patch = {
  carrierHz: 1000,
  ratios: [1, 1, 1, 1, 1],
  betas: [0, 0, 0, 0, 0],
  attackSec: 0.01,
  decaySec: 0.1,
  sustain: 0.5,
  releaseSec: 0.2,
};

function opts(durationSec: number, feedback = 0): RenderOptions {
  return { sampleRate: FS, durationSec, noteOffSec: 1e9, feedback };
}

test('Bessel series matches tabulated values (the test truth itself)', () => {
  // Abramowitz & Stegun table 9.1.
  expectClose(besselJ(0, 1), 0.7651976866, { atol: 1e-9 }, 'J0(1)');
  expectClose(besselJ(1, 2), 0.5767248078, { atol: 1e-9 }, 'J1(2)');
  expectClose(besselJ(2, 5), 0.0465651163, { atol: 1e-9 }, 'J2(5)');
  expectClose(besselJ(0, 2.404825557695773), 0, { atol: 1e-9 }, 'first zero of J0');
});

test('β = 0 renders a pure sine at carrier_hz in every algorithm shape', () => {
  for (const name of ['paper-3s2p', 'paper-serial', 'dx7-1', 'dx7-16']) {
    const alg = getAlgorithm(name);
    const patch = { ...basePatch, carrierHz: 437.25, ratios: [2, 3, 0.5, 7, 1 / 3] };
    const y = renderOscillators(patch, alg, opts(0.25));
    // Extra DX7 carriers (ratio × carrier) are also present at amplitude 1/carriers: subtract them.
    const gain = 1 / alg.carriers.length;
    let maxErr = 0;
    for (let i = 0; i < y.length; i++) {
      let expected = 0;
      for (const op of alg.carriers) {
        const f = op === 0 ? patch.carrierHz : patch.ratios[op - 1] * patch.carrierHz;
        expected += gain * Math.sin((2 * Math.PI * f * i) / FS);
      }
      maxErr = Math.max(maxErr, Math.abs(y[i] - expected));
    }
    assert.ok(maxErr < 1e-6, `${name}: max error ${maxErr} against sin(2π f t)`);
  }
});

test('a single modulator–carrier pair has Bessel J_n(β) sidebands within 1 %', () => {
  // paper-serial with only M5 active is one pair M5 → C. fc = 6000 Hz, fm = 750 Hz, 1 s: every
  // sideband sits on an exact 1 Hz bin. Sideband −n and −(16 − n) meet after folding around 0 Hz;
  // for |n| ≤ 6 the partner is J_10(β) or smaller, under 0.3 % of the checked amplitude.
  const alg = getAlgorithm('paper-serial');
  for (const beta of [0.5, 1.3, 2.4, 4]) {
    const patch = { ...basePatch, carrierHz: 6000, ratios: [1, 1, 1, 1, 1 / 8], betas: [0, 0, 0, 0, beta] };
    const y = renderOscillators(patch, alg, opts(1));
    for (let n = -6; n <= 6; n++) {
      const expected = Math.abs(besselJ(n, beta));
      const measured = toneAmplitude(y, 6000 + 750 * n, FS);
      const tol = Math.max(0.01 * expected, 2e-4);
      assert.ok(Math.abs(measured - expected) <= tol, `β=${beta}, n=${n}: |J_n| ${expected.toFixed(5)}, measured ${measured.toFixed(5)}`);
    }
  }
});

test('in every DX7 algorithm, a modulator at level 0 removes exactly the sidebands it causes', () => {
  // All operators but m sit on a 100 Hz lattice; m runs at 130 Hz, so every component it causes is
  // off the lattice (130·n ≡ 30·n mod 100 ≠ 0 for |n| < 10). 0.1 s is periodic for all of them.
  // Feedback is a recursion whose start-up transient is not periodic, so the second 0.1 s of a
  // 0.2 s render is analysed.
  const durationSec = 0.2;
  const latticeBins: number[] = [];
  for (let f = 0; f <= FS / 2; f += 100) latticeBins.push(f);
  const offLatticeFraction = (whole: Float32Array): number => {
    const y = whole.subarray(whole.length / 2);
    let total = 0;
    for (let i = 0; i < y.length; i++) total += y[i] * y[i];
    // Parseval over exact bins: Σx² = N/2 · Σ A_k² (+ DC and Nyquist terms, counted fully).
    let on = 0;
    for (const f of latticeBins) {
      const a = toneAmplitude(y, f, FS);
      on += ((f === 0 || f === FS / 2 ? 0.25 : 0.5) * a * a) * y.length;
    }
    return total > 0 ? Math.max(0, 1 - on / total) : 0;
  };
  const onLatticeRatios = [2, 0.5, 3, 1.5, 0.7];
  for (let a = 1; a <= 32; a++) {
    const alg = getAlgorithm(`dx7-${a}`);
    for (let m = 1; m < OPERATOR_COUNT; m++) {
      if (alg.carriers.includes(m)) continue;
      const ratios = onLatticeRatios.slice();
      ratios[m - 1] = 0.13;
      for (const feedback of [0, 4]) {
        const on: Patch = { ...basePatch, ratios, betas: [1, 1, 1, 1, 1] };
        const off: Patch = { ...on, betas: on.betas.map((b, k) => (k === m - 1 ? 0 : b)) };
        const withM = offLatticeFraction(renderOscillators(on, alg, opts(durationSec, feedback)));
        const withoutM = offLatticeFraction(renderOscillators(off, alg, opts(durationSec, feedback)));
        assert.ok(withM > 1e-3, `dx7-${a}, op ${m + 1}, fb ${feedback}: its sidebands are missing (${withM})`);
        assert.ok(withoutM < 1e-7, `dx7-${a}, op ${m + 1}, fb ${feedback}: ${withoutM} of the energy is still off the lattice`);
      }
    }
  }
});

test('phase stays exact over 4 s: zero crossings of a 6 kHz carrier near 3.9 s', () => {
  const alg = getAlgorithm('paper-3s2p');
  for (const carrierHz of [6000, 5987.31]) {
    const y = renderOscillators({ ...basePatch, carrierHz }, alg, { ...PAPER_RENDER, noteOffSec: 1e9 });
    const start = Math.round(3.9 * FS);
    let checked = 0;
    let worst = 0;
    for (let i = start; i < start + 480; i++) {
      if (y[i] <= 0 && y[i + 1] > 0) {
        // Upward crossing by linear interpolation; the ideal ones are at k / f.
        const t = (i + y[i] / (y[i] - y[i + 1])) / FS;
        const k = Math.round(t * carrierHz);
        worst = Math.max(worst, Math.abs(t - k / carrierHz));
        checked++;
      }
    }
    assert.ok(checked >= 50, `only ${checked} crossings found`);
    assert.ok(worst < 1e-4, `${carrierHz} Hz: a zero crossing is ${worst} s off`);
    // Far tighter in fact: interpolation at 8 samples per cycle is good to ~1e-7 s.
    assert.ok(worst < 1e-6, `${carrierHz} Hz: a zero crossing is ${worst} s off (phase drift)`);
  }
});

test('envelope breakpoints land where the parameters say', () => {
  const env = { attackSec: 0.1, decaySec: 0.2, sustain: 0.4, releaseSec: 0.5 };
  const noteOff = 3;
  expectClose(adsrLevel(env, 0.05, noteOff), 0.5, { atol: 1e-12 }, 'mid-attack');
  expectClose(adsrLevel(env, 0.1, noteOff), 1, { atol: 1e-12 }, 'end of attack');
  expectClose(adsrLevel(env, 0.2, noteOff), 0.7, { atol: 1e-12 }, 'mid-decay');
  expectClose(adsrLevel(env, 0.3, noteOff), 0.4, { atol: 1e-12 }, 'end of decay');
  expectClose(adsrLevel(env, 2.9, noteOff), 0.4, { atol: 1e-12 }, 'sustain');
  expectClose(adsrLevel(env, 3.25, noteOff), 0.2, { atol: 1e-12 }, 'mid-release');
  expectClose(adsrLevel(env, 3.5, noteOff), 0, { atol: 1e-12 }, 'end of release');
  // Release starts from the level reached at note-off, even mid-attack.
  expectClose(adsrLevel(env, 0.05 + 0.25, 0.05), 0.25, { atol: 1e-12 }, 'release from mid-attack');

  const sig = new Float32Array(4 * FS).fill(1);
  applyAdsrInPlace(sig, env, FS, noteOff);
  let maxErr = 0;
  for (let i = 0; i < sig.length; i++) maxErr = Math.max(maxErr, Math.abs(sig[i] - adsrLevel(env, i / FS, noteOff)));
  assert.ok(maxErr < 1e-6, `sampled envelope differs from the closed form by ${maxErr}`);
  // The peak sample is the one at exactly attack_s; the sustain starts at attack + decay.
  assert.equal(sig.indexOf(1), Math.round(0.1 * FS));
  expectClose(sig[Math.round(0.3 * FS)], 0.4, { atol: 1e-6 }, 'level at attack+decay');
  assert.equal(sig[Math.round(3.5 * FS)], 0);
});

test('the block renderer equals the Math.sin reference in every algorithm, with and without feedback', () => {
  const sampler = { seed: 7, nyquist: 'keep' as const, nyquistHz: 24000 };
  for (const name of ALGORITHM_NAMES) {
    const alg = getAlgorithm(name);
    for (const feedback of alg.feedback ? [0, 6] : [0]) {
      const drawn = samplePatch(ALGORITHM_NAMES.indexOf(name), sampler).patch;
      // Feedback through a loop of operators (DX7 4 and 6) is chaotic at large β: any two correct
      // renderers diverge from rounding alone. Compare them where the loop is tame.
      const loop = feedback > 0 && alg.feedback !== null && alg.feedback.from !== alg.feedback.into;
      const patch = loop ? { ...drawn, betas: drawn.betas.map((b) => Math.min(b, 1)) } : drawn;
      const o = { ...PAPER_RENDER, durationSec: 0.05, noteOffSec: 0.03, feedback };
      const fast = renderVoice({ ...patch, attackSec: 0.005, decaySec: 0.02, releaseSec: 0.05 }, alg, o);
      const ref = renderVoiceReference({ ...patch, attackSec: 0.005, decaySec: 0.02, releaseSec: 0.05 }, alg, o);
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(fast[i] - ref[i]));
      assert.ok(maxErr < 2e-4, `${name}, feedback ${feedback}: block renderer differs from reference by ${maxErr}`);
    }
  }
});

test('feedback changes the sound and stays bounded', () => {
  const alg = getAlgorithm('dx7-32'); // six carriers, feedback on operator 6
  const patch = { ...basePatch, ratios: [2, 3, 4, 5, 6] };
  const plain = renderOscillators(patch, alg, opts(0.1, 0));
  const fb = renderOscillators(patch, alg, opts(0.1, 7));
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < plain.length; i++) {
    diff = Math.max(diff, Math.abs(plain[i] - fb[i]));
    peak = Math.max(peak, Math.abs(fb[i]));
  }
  assert.ok(diff > 0.05, 'feedback 7 made no audible difference');
  assert.ok(peak <= 1 + 1e-6, `voice peaked at ${peak}`);
  assert.throws(() => renderOscillators(basePatch, getAlgorithm('paper-3s2p'), opts(0.1, 3)), /no feedback loop/);
  assert.throws(() => renderOscillators(basePatch, alg, opts(0.1, 8)), /0 … 7/);
});

test('the algorithm table is the shared reference, and unknown names are refused', () => {
  const shared = JSON.parse(readFileSync(path.join(SHARED_DIR, 'reference', 'dx7-algorithms.json'), 'utf8')) as unknown[];
  const ours = JSON.parse(readFileSync(new URL('../src/synth/dx7-algorithms.json', import.meta.url), 'utf8')) as unknown[];
  assert.deepEqual(ours, shared);
  assert.equal(ALGORITHM_NAMES.length, 34);
  assert.throws(() => getAlgorithm('dx7-33'), /unknown algorithm 'dx7-33'/);
  // Every operator of every routing reaches the output.
  for (const name of ALGORITHM_NAMES) {
    const alg = getAlgorithm(name);
    assert.equal(alg.order.length, OPERATOR_COUNT, name);
  }
});
