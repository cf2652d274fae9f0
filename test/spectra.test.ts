/**
 * Kernels of spec §5 against independent truths: the FFT against a naive DFT and Parseval, the
 * window and the mel scale against their closed forms (librosa's documented values), the STFT of a
 * pure sine against where its energy must be.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RealFftPlan, isPowerOfTwo } from '../src/dsp/fft.ts';
import { hannPeriodic } from '../src/dsp/window.ts';
import { applyMelFilterbank, hzToMelSlaney, melFilterbank, melFilterbankDense, melFrequencies, melToHzSlaney } from '../src/dsp/mel.ts';
import { countFrames, powerToDb, SpectrogramPlan, SPEC_SPECTROGRAM } from '../src/features/spectra.ts';
import { expectClose, noise } from './helpers.ts';


/** Naive O(N²) DFT of a real signal, bins 0 … N/2, in float64. */
function naiveDft(x: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = x.length;
  const re = new Float64Array(n / 2 + 1);
  const im = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      // Reduce k·t mod n first so the angle stays small and exact.
      const a = (-2 * Math.PI * ((k * t) % n)) / n;
      sr += x[t] * Math.cos(a);
      si += x[t] * Math.sin(a);
    }
    re[k] = sr;
    im[k] = si;
  }
  return { re, im };
}

describe('RealFftPlan', () => {
  // 4 (one butterfly), 8 (fused pass only), 16/64/256 (odd stage count: radix-2 pass), 32/128/2048 (radix-4 only).
  for (const n of [4, 8, 16, 32, 64, 128, 256, 2048]) {
    test(`matches a naive DFT at N = ${n}`, () => {
      const x = noise(n, n);
      const plan = new RealFftPlan(n);
      const re = new Float64Array(plan.bins);
      const im = new Float64Array(plan.bins);
      plan.forward(x, re, im);
      const ref = naiveDft(x);
      const scale = Math.sqrt(n); // typical |X| of unit-variance noise
      for (let k = 0; k < plan.bins; k++) {
        expectClose(re[k], ref.re[k], { atol: 1e-12 * n * scale }, `Re X[${k}]`);
        expectClose(im[k], ref.im[k], { atol: 1e-12 * n * scale }, `Im X[${k}]`);
      }
      const mag = plan.magnitude(x, new Float64Array(plan.bins));
      const pow = plan.power(x, new Float64Array(plan.bins));
      for (let k = 0; k < plan.bins; k++) {
        expectClose(mag[k], Math.hypot(ref.re[k], ref.im[k]), { atol: 1e-12 * n * scale }, `|X[${k}]|`);
        expectClose(pow[k], mag[k] * mag[k], { rtol: 1e-12, atol: 1e-20 }, `|X[${k}]|²`);
      }
    });
  }

  test('satisfies Parseval at N = 65 536 (the FFT distance size)', () => {
    const n = 65536;
    const x = noise(n, 7);
    const plan = new RealFftPlan(n);
    const p = plan.power(x, new Float64Array(plan.bins));
    let energy = 0;
    for (let i = 0; i < n; i++) energy += x[i] * x[i];
    // Σ|x|² = (1/N)·Σ over all N bins; bins 1 … N/2−1 appear twice (Hermitian symmetry).
    let spectral = p[0] + p[n / 2];
    for (let k = 1; k < n / 2; k++) spectral += 2 * p[k];
    expectClose(spectral / n, energy, { rtol: 1e-12 }, 'Parseval');
  });

  test('zero-pads short input implicitly, without mutating it', () => {
    const x = new Float32Array(noise(1000, 3));
    const copy = Float32Array.from(x);
    const plan = new RealFftPlan(1024);
    const a = plan.magnitude(x, new Float64Array(plan.bins));
    const padded = new Float64Array(1024);
    padded.set(x);
    const b = plan.magnitude(padded, new Float64Array(plan.bins));
    for (let k = 0; k < plan.bins; k++) expectClose(a[k], b[k], { atol: 1e-12 }, `bin ${k}`);
    assert.deepEqual(x, copy);
  });

  test('a unit impulse has a flat spectrum; a cosine at bin k0 has N/2 at k0 only', () => {
    const n = 512;
    const plan = new RealFftPlan(n);
    const imp = new Float64Array(n);
    imp[0] = 1;
    for (const v of plan.magnitude(imp, new Float64Array(plan.bins))) expectClose(v, 1, { atol: 1e-14 }, 'impulse');
    const k0 = 37;
    const c = new Float64Array(n).map((_, t) => Math.cos((2 * Math.PI * k0 * t) / n));
    const m = plan.magnitude(c, new Float64Array(plan.bins));
    for (let k = 0; k < plan.bins; k++) expectClose(m[k], k === k0 ? n / 2 : 0, { atol: 1e-10 }, `bin ${k}`);
  });

  test('windowedMagnitude equals magnitude of the windowed copy', () => {
    const n = 256;
    const plan = new RealFftPlan(n);
    const x = new Float32Array(noise(1000, 21));
    const w = hannPeriodic(n);
    const a = plan.windowedMagnitude(x, 300, w, new Float64Array(plan.bins));
    const b = plan.magnitude(new Float64Array(n).map((_, i) => x[300 + i] * w[i]), new Float64Array(plan.bins));
    for (let k = 0; k < plan.bins; k++) expectClose(a[k], b[k], { atol: 1e-12 }, `bin ${k}`);
    assert.throws(() => plan.windowedMagnitude(x, 800, w, new Float64Array(plan.bins)), /outside the signal/);
    assert.throws(() => plan.windowedMagnitude(x, 0, hannPeriodic(128), new Float64Array(plan.bins)), /window has length/);
  });

  test('refuses bad sizes and buffers', () => {
    assert.equal(isPowerOfTwo(2048), true);
    assert.equal(isPowerOfTwo(2047), false);
    assert.throws(() => new RealFftPlan(1000), /power of two/);
    assert.throws(() => new RealFftPlan(2), /power of two/);
    const plan = new RealFftPlan(64);
    assert.throws(() => plan.magnitude(new Float64Array(64), new Float64Array(32)), /needs ≥ 33 bins/);
    assert.throws(() => plan.magnitude(new Float64Array(65), new Float64Array(33)), /more than the FFT size/);
  });
});

describe('hannPeriodic', () => {
  test('is the periodic (denominator N) Hann window', () => {
    const n = 2048;
    const w = hannPeriodic(n);
    expectClose(w[0], 0, { atol: 0 }, 'w[0]');
    expectClose(w[n / 2], 1, { atol: 1e-15 }, 'w[N/2]');
    // Periodic, not symmetric: w[N−1] = w[1] ≠ 0.
    expectClose(w[n - 1], w[1], { atol: 1e-15 }, 'w[N−1]');
    assert.ok(w[n - 1] > 0);
    let sum = 0;
    for (const v of w) sum += v;
    expectClose(sum, n / 2, { rtol: 1e-12 }, 'Σw');
    // Constant overlap-add at hop N/4 (the STFT's 512): shifted copies sum to exactly 2.
    const hop = n / 4;
    for (let i = 0; i < hop; i++) {
      expectClose(w[i] + w[i + hop] + w[i + 2 * hop] + w[i + 3 * hop], 2, { atol: 1e-12 }, `COLA at ${i}`);
    }
  });

  test('refuses a bad length', () => {
    assert.throws(() => hannPeriodic(0), /positive integer/);
    assert.throws(() => hannPeriodic(8, new Float64Array(7)), /expected 8/);
  });
});

describe('Slaney mel scale and filterbank', () => {
  test('known values of the Slaney scale (librosa htk=False)', () => {
    expectClose(hzToMelSlaney(1000), 15, { atol: 1e-12 }, 'mel(1000 Hz)');
    expectClose(hzToMelSlaney(0), 0, { atol: 0 }, 'mel(0)');
    expectClose(hzToMelSlaney(440), 6.6, { atol: 1e-12 }, 'mel(440 Hz)'); // linear part: 3 mels per 200 Hz
    // Log part: 27 mels per factor 6.4, so 6400 Hz is 42 mels.
    expectClose(hzToMelSlaney(6400), 42, { atol: 1e-12 }, 'mel(6400 Hz)');
    expectClose(hzToMelSlaney(8000), 45.245640471924965, { atol: 1e-9 }, 'mel(8000 Hz)');
    for (const hz of [0, 1, 20, 440, 999.999, 1000, 1000.001, 3000, 8000, 11025]) {
      expectClose(melToHzSlaney(hzToMelSlaney(hz)), hz, { rtol: 1e-12, atol: 1e-12 }, `round trip ${hz} Hz`);
    }
    const f = melFrequencies(130, 0, 8000);
    expectClose(f[0], 0, { atol: 0 }, 'first edge');
    expectClose(f[129], 8000, { rtol: 1e-12 }, 'last edge');
  });

  test('spec filterbank: 128 triangles over 1025 bins, area-normalised by 2/(f_{m+2} − f_m)', () => {
    const fb = melFilterbank(SPEC_SPECTROGRAM);
    assert.equal(fb.nMels, 128);
    assert.equal(fb.bins, 1025);
    const dense = melFilterbankDense(fb);
    const e = fb.edgesHz;
    const binHz = 16000 / 2048;
    for (let m = 0; m < 128; m++) {
      const norm = 2 / (e[m + 2] - e[m]);
      let area = 0;
      let peak = 0;
      for (let k = 0; k < 1025; k++) {
        const f = k * binHz;
        const tri = Math.max(0, Math.min((f - e[m]) / (e[m + 1] - e[m]), (e[m + 2] - f) / (e[m + 2] - e[m + 1])));
        expectClose(dense[m * 1025 + k], tri * norm, { atol: 1e-15 }, `W[${m}, ${k}]`);
        area += dense[m * 1025 + k] * binHz;
        peak = Math.max(peak, dense[m * 1025 + k]);
      }
      // Each triangle, sampled at the bins, has area ≈ 1 (exactly 1 as a continuous triangle);
      // the narrowest bands (≈ 47 Hz wide, 6 bins) are sampled coarsely, hence 10 %.
      expectClose(area, 1, { rtol: 0.1 }, `area of band ${m}`);
      assert.ok(peak <= norm + 1e-15, `band ${m} peaks at ${peak} > 2/(f_{m+2} − f_m) = ${norm}`);
    }
    // Applying it sparsely equals the dense matrix product.
    const spec = noise(1025, 11).map(Math.abs);
    const out = applyMelFilterbank(fb, spec, new Float64Array(128));
    for (let m = 0; m < 128; m++) {
      let acc = 0;
      for (let k = 0; k < 1025; k++) acc += dense[m * 1025 + k] * spec[k];
      expectClose(out[m], acc, { rtol: 1e-12, atol: 1e-15 }, `mel[${m}]`);
    }
  });
});

describe('SpectrogramPlan', () => {
  const plan = new SpectrogramPlan();

  test('126 frames × 1025 bins for 64 000 samples', () => {
    assert.equal(countFrames(64000, 512), 126);
    const x = noise(64000, 5);
    assert.equal(plan.stftMagnitude(x).length, 126 * 1025);
    assert.equal(plan.logMel(x).length, 126 * 128);
  });

  test('a pure sine peaks in its bin with amplitude N/4 (periodic Hann sums to N/2)', () => {
    const n = 64000;
    // On a bin centre (bin 100 = 781.25 Hz) the peak is exact; 440 Hz falls in bin round(56.32) = 56.
    for (const [hz, bin, exact] of [[781.25, 100, true], [440, 56, false]] as const) {
      const x = new Float64Array(n).map((_, t) => Math.sin((2 * Math.PI * hz * t) / 16000));
      const mag = plan.stftMagnitude(x);
      for (let t = 2; t < 124; t++) {
        let best = 0;
        for (let k = 1; k < 1025; k++) if (mag[t * 1025 + k] > mag[t * 1025 + best]) best = k;
        assert.equal(best, bin, `frame ${t} peaks at bin ${best}, expected ${bin}`);
        if (exact) {
          expectClose(mag[t * 1025 + bin], 512, { rtol: 1e-9 }, `peak of frame ${t}`);
          // Hann main lobe: the neighbours hold half, everything beyond is ~0.
          expectClose(mag[t * 1025 + bin + 1], 256, { rtol: 1e-9 }, `bin ${bin + 1} of frame ${t}`);
          expectClose(mag[t * 1025 + bin + 2], 0, { atol: 1e-7 }, `bin ${bin + 2} of frame ${t}`);
        }
      }
    }
  });

  test('frames are centred with reflect padding (frame 0 and the last frame against a naive DFT)', () => {
    const x = noise(5000, 9);
    const mag = plan.stftMagnitude(x);
    const frames = countFrames(5000, 512);
    const w = hannPeriodic(2048);
    for (const t of [0, 1, frames - 1]) {
      const frame = new Float64Array(2048);
      for (let i = 0; i < 2048; i++) {
        let j = t * 512 - 1024 + i;
        if (j < 0) j = -j; // numpy reflect: x[−1] = x[1]
        if (j >= 5000) j = 2 * 4999 - j;
        frame[i] = x[j] * w[i];
      }
      const ref = naiveDft(frame);
      for (let k = 0; k < 1025; k += 7) {
        expectClose(mag[t * 1025 + k], Math.hypot(ref.re[k], ref.im[k]), { atol: 1e-9 }, `frame ${t} bin ${k}`);
      }
    }
  });

  test('log-mel is 10·log10 of mel *power*, floored at −100 dB', () => {
    expectClose(powerToDb(1), 0, { atol: 0 }, 'dB(1)');
    expectClose(powerToDb(0), -100, { atol: 1e-12 }, 'dB(0)');
    expectClose(powerToDb(1e-12), -100, { atol: 1e-12 }, 'dB(1e-12)');
    const silent = plan.logMel(new Float64Array(64000));
    for (const v of silent) expectClose(v, -100, { atol: 1e-12 }, 'silence');
    // Doubling the amplitude adds 20·log10(2) ≈ 6.02 dB to every cell that is above the floor.
    const x = noise(64000, 13);
    const a = plan.logMel(x);
    const b = plan.logMel(x.map((v) => 2 * v));
    for (let i = 0; i < a.length; i++) if (a[i] > -90) expectClose(b[i] - a[i], 20 * Math.log10(2), { atol: 1e-9 }, `cell ${i}`);
    // And it agrees with mel of |X|² computed by hand for one frame.
    const mag = plan.stftMagnitude(x);
    const pow = new Float64Array(1025).map((_, k) => mag[60 * 1025 + k] ** 2);
    const mel = applyMelFilterbank(plan.mel, pow, new Float64Array(128));
    for (let m = 0; m < 128; m++) expectClose(a[60 * 128 + m], 10 * Math.log10(mel[m]), { atol: 1e-9 }, `frame 60 band ${m}`);
  });

  test('refuses signals too short to reflect-pad', () => {
    assert.throws(() => plan.stftMagnitude(new Float64Array(1024)), /reflect padding/);
  });
});
