/**
 * The 48 kHz → 16 kHz decimator, measured as implemented: the shipped taps on a dense grid, the
 * decimator's own response to complex exponentials, a 1 kHz sine against its closed form, a
 * 20 kHz tone, impulses (which expose the polyphase indexing and the delay compensation), and
 * the fast paths against the float64 reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANTIALIAS_DELAY_SAMPLES,
  ANTIALIAS_NUM_TAPS,
  decimate3,
  decimate3Js,
  decimate3Length,
  decimate3Reference,
  getWasmDecimator,
} from '../src/dsp/resample.ts';
import { ANTIALIAS_TAPS } from '../src/dsp/antialias-taps.ts';
import { designAntiAlias } from '../src/dsp/antialias-design.ts';
import { measureAntiAlias, meetsAntiAliasSpec } from '../src/dsp/antialias-spec.ts';
import { symmetricAmplitude } from '../src/dsp/remez.ts';
import { expectClose } from './helpers.ts';

const FS = 48_000;
const FS_OUT = 16_000;
const M = ANTIALIAS_DELAY_SAMPLES;
const TAPS32 = Float64Array.from(ANTIALIAS_TAPS, Math.fround);
const db = (a: number): number => 20 * Math.log10(a);

/** Deterministic uniform noise in [−amp, amp) (LCG; tests must not use Math.random). */
function noise(n: number, amp: number, seed: number): Float64Array {
  const x = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = amp * ((s / 2 ** 32) * 2 - 1);
  }
  return x;
}

test('table: 155 symmetric float32 taps whose dense-grid response meets the spec', () => {
  assert.equal(ANTIALIAS_NUM_TAPS, 155);
  for (let k = 0; k < ANTIALIAS_NUM_TAPS; k++) assert.equal(TAPS32[k], TAPS32[ANTIALIAS_NUM_TAPS - 1 - k]);
  const m = measureAntiAlias(TAPS32, 400);
  assert.ok(meetsAntiAliasSpec(m), JSON.stringify(m));
  assert.ok(m.passbandMaxDb <= 0.1 && m.passbandMinDb >= -0.1, `passband ${m.passbandMinDb} … ${m.passbandMaxDb} dB`);
  assert.ok(m.stopbandMaxDb <= -80, `stopband ${m.stopbandMaxDb} dB`);
});

test('table: a fresh Remez design reproduces it, and no shorter length meets the spec', () => {
  const lines: string[] = [];
  const d = designAntiAlias((l) => lines.push(l));
  assert.equal(d.taps.length, ANTIALIAS_NUM_TAPS);
  for (let k = 0; k < d.taps.length; k++) assert.equal(d.taps[k], TAPS32[k], `tap ${k}`);
  // The search starts below and steps by 2, so the line before the winner is a failing N − 2.
  assert.match(lines[lines.length - 2], new RegExp(`^N=${ANTIALIAS_NUM_TAPS - 2}:`));
});

/**
 * Complex gain of the implemented decimator at `hz`: decimate cos and sin separately (it is
 * linear) and form y_c + i·y_s, which away from the edges equals A(f)·e^{iω·3m} exactly, A the
 * zero-phase amplitude. Returns A·e^{iφ} averaged over interior outputs, φ the residual phase.
 */
function measuredGain(decimate: (x: Float64Array) => Float32Array, hz: number, n = 3000): { re: number; im: number; spread: number } {
  const w = (2 * Math.PI * hz) / FS;
  const c = new Float64Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    c[i] = Math.cos(w * i);
    s[i] = Math.sin(w * i);
  }
  const yc = decimate(c);
  const ys = decimate(s);
  const first = Math.ceil(M / 3);
  const last = Math.floor((n - 1 - M) / 3);
  let re = 0;
  let im = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let m = first; m <= last; m++) {
    // (yc + i ys)·e^{−iω3m}
    const cr = Math.cos(w * 3 * m);
    const ci = -Math.sin(w * 3 * m);
    const gr = yc[m] * cr - ys[m] * ci;
    const gi = yc[m] * ci + ys[m] * cr;
    re += gr;
    im += gi;
    const mag = Math.hypot(gr, gi);
    lo = Math.min(lo, mag);
    hi = Math.max(hi, mag);
  }
  const count = last - first + 1;
  return { re: re / count, im: im / count, spread: hi - lo };
}

test('decimate3 measured: passband within ±0.1 dB and zero phase over 0–7 kHz (5 Hz grid)', () => {
  let maxDb = -Infinity;
  let minDb = Infinity;
  for (let hz = 0; hz <= 7000; hz += 5) {
    const g = measuredGain((x) => decimate3(x), hz);
    const mag = Math.hypot(g.re, g.im);
    maxDb = Math.max(maxDb, db(mag));
    minDb = Math.min(minDb, db(mag));
    // Zero phase = delay compensated: the gain is real and positive, as is A(f) from the taps.
    expectClose(g.im, 0, { atol: 2e-6 }, `imaginary gain at ${hz} Hz`);
    expectClose(g.re, symmetricAmplitude(TAPS32, hz / FS), { atol: 2e-6 }, `gain at ${hz} Hz vs taps`);
  }
  assert.ok(maxDb <= 0.1 && minDb >= -0.1, `measured passband ${minDb.toFixed(4)} … ${maxDb.toFixed(4)} dB`);
});

test('decimate3 measured: ≥ 80 dB attenuation over 8–24 kHz (5 Hz grid)', () => {
  let worst = -Infinity;
  let worstHz = 0;
  for (let hz = 8000; hz <= 24000; hz += 5) {
    const g = measuredGain((x) => decimate3(x), hz);
    // Worst interior sample, not the average, so nothing leaks past the bound anywhere.
    const magDb = db(Math.hypot(g.re, g.im) + g.spread);
    if (magDb > worst) {
      worst = magDb;
      worstHz = hz;
    }
  }
  assert.ok(worst <= -80, `measured stopband peak ${worst.toFixed(2)} dB at ${worstHz} Hz`);
});

test('decimate3: a 1 kHz sine comes out as the same sine at 16 kHz, amplitude and phase kept', () => {
  const n = 192_000;
  const amp = 0.5;
  const phase = 0.7;
  const hz = 1000;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * hz * i) / FS + phase);
  const y = decimate3(x);
  assert.equal(y.length, 64_000);
  const gain = symmetricAmplitude(TAPS32, hz / FS);
  for (let m = 30; m < y.length - 30; m++) {
    const ideal = amp * Math.sin((2 * Math.PI * hz * m) / FS_OUT + phase);
    // Closed form within the spec's ±0.1 dB, and the taps' exact gain to float32 precision.
    expectClose(y[m], ideal, { atol: amp * 0.0116 }, `y[${m}] vs ideal sine`);
    expectClose(y[m], gain * ideal, { atol: 1e-6 }, `y[${m}] vs A(1 kHz)·sine`);
  }
});

test('decimate3: a 20 kHz tone comes out ≥ 80 dB down', () => {
  const n = 48_000;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin((2 * Math.PI * 20_000 * i) / FS + 0.3);
  const y = decimate3(x);
  let peak = 0;
  for (let m = 30; m < y.length - 30; m++) peak = Math.max(peak, Math.abs(y[m]));
  assert.ok(db(peak) <= -80, `20 kHz leaks at ${db(peak).toFixed(2)} dB`);
});

test('decimate3: impulses read back the taps centred on 3m (polyphase indexing, delay removed)', () => {
  // An impulse at input t gives y[m] = h[M + 3m − t]: interleaving t, t+1, t+2 recovers every tap.
  for (const t of [600, 601, 602]) {
    const x = new Float32Array(1500);
    x[t] = 1;
    for (const [name, f] of [['wasm', decimate3], ['js', decimate3Js], ['reference', decimate3Reference]] as const) {
      const y = f(x);
      for (let m = 0; m < y.length; m++) {
        const k = M + 3 * m - t;
        const expected = k >= 0 && k < ANTIALIAS_NUM_TAPS ? TAPS32[k] : 0;
        expectClose(y[m], expected, { atol: 1e-9 }, `${name}: impulse at ${t}, y[${m}]`);
      }
    }
  }
});

test('decimate3: output length ⌈n/3⌉, zero-padded edges, input untouched, out honoured', () => {
  for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 31, 32, 33, 192_000]) {
    for (const f of [decimate3, decimate3Js, decimate3Reference]) {
      const x64 = noise(n, 1, n + 1);
      const copy = x64.slice();
      assert.equal(f(x64).length, Math.ceil(n / 3));
      assert.deepEqual(x64, copy, 'Float64 input mutated');
      const x32 = Float32Array.from(x64);
      const copy32 = x32.slice();
      const out = new Float32Array(decimate3Length(n));
      assert.equal(f(x32, out), out);
      assert.deepEqual(x32, copy32, 'Float32 input mutated');
    }
  }
  assert.equal(decimate3(new Float32Array(192_000)).length, 64_000);
  // Edges: a constant input rises from ~½ at m = 0 (half the taps see zeros) to the DC gain.
  const y = decimate3(new Float64Array(3000).fill(1));
  expectClose(y[0], TAPS32.slice(M).reduce((a, b) => a + b, 0), { atol: 1e-6 }, 'y[0] of a step');
  expectClose(y[500], symmetricAmplitude(TAPS32, 0), { atol: 1e-6 }, 'y[500] of a constant');
});

test('decimate3: refuses a wrong-sized or aliasing out buffer and non-float input', () => {
  assert.throws(() => decimate3(new Float32Array(9), new Float32Array(4)), /expected/);
  const buf = new Float32Array(12);
  assert.throws(() => decimate3(buf.subarray(0, 9), buf.subarray(9, 12)), /share/);
  assert.throws(() => decimate3([1, 2, 3] as unknown as Float32Array), /Float32Array/);
});

test('fast paths equal the float64 reference within 1e-6 (full-scale noise, odd lengths)', () => {
  assert.ok(getWasmDecimator() !== null, 'WebAssembly SIMD unavailable: the fast path would not be tested');
  for (const n of [1, 2, 3, 47, 48, 49, 155, 156, 1000, 4099, 192_000, 192_001, 192_002]) {
    const x = noise(n, 1, 7 * n + 3);
    const ref = decimate3Reference(x);
    for (const input of [x, Float32Array.from(x)]) {
      const refIn = input === x ? ref : decimate3Reference(input);
      for (const [name, f] of [['wasm', decimate3], ['js', decimate3Js]] as const) {
        const y = f(input);
        let worst = 0;
        for (let m = 0; m < y.length; m++) worst = Math.max(worst, Math.abs(y[m] - refIn[m]));
        assert.ok(worst <= 1e-6, `${name}, n=${n}, ${input.constructor.name}: max |Δ| ${worst}`);
      }
    }
  }
});
