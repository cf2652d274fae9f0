/**
 * DDX7 control features against independent truths: synthetic tones whose instantaneous
 * frequency is known in closed form, silence and noise (no period), the A-weighting curve
 * against IEC 61672's tabulated values, loudness against Parseval's closed form, and the
 * fixture notes against their MIDI metadata.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeWav } from '../src/dsp/wav.ts';
import { RealFftPlan } from '../src/dsp/fft.ts';
import { hannPeriodic } from '../src/dsp/window.ts';
import {
  countControlFrames,
  DDX7_PITCH,
  f0FromMetadata,
  hzOfMidi,
  midiOfHz,
  scaleF0,
  trackPitch,
  YinPlan,
} from '../src/features/pitch.ts';
import { aWeightingDb, A_WEIGHTING_FLOOR_DB, DDX7_LOUDNESS, loudnessDb, LoudnessPlan, scaleLoudness } from '../src/features/loudness.ts';
import { expectClose, SHARED_DIR } from './helpers.ts';

const SR = 16000;
const FIXTURE_DIR = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');

/** Deterministic pseudo-random samples in [−a, a) (an LCG: tests must not use Math.random). */
function noise(n: number, seed: number, a = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = a * (s / 2 ** 31 - 1);
  }
  return out;
}

/** Vibrato law: f(i) = f0·2^(depthCents/1200 · sin(2π·5 Hz·i/SR)), Hz at sample i. */
function vibratoHz(f0: number, depthCents: number, i: number): number {
  return f0 * Math.pow(2, (depthCents / 1200) * Math.sin((2 * Math.PI * 5 * i) / SR));
}

/**
 * A tone whose instantaneous frequency is `vibratoHz(f0, depthCents, i)`: harmonics 1 … `harmonics`
 * (below Nyquist) with amplitudes 1/h, a sawtooth's, when `harmonics` > 1.
 */
function tone(f0: number, harmonics: number, depthCents: number, n: number, amplitude = 0.5): Float32Array {
  const x = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const f = vibratoHz(f0, depthCents, i);
    let s = 0;
    for (let h = 1; h <= harmonics && h * f < SR / 2; h++) s += Math.sin(h * phase) / h;
    x[i] = amplitude * s;
    phase += (2 * Math.PI * f) / SR;
  }
  return x;
}

function cents(a: number, b: number): number {
  return 1200 * Math.log2(a / b);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

describe('control frames', () => {
  test('1 + ⌈n/64⌉ centred frames: 64 000 samples → 1001, every sample between two centres', () => {
    assert.equal(countControlFrames(64000), 1001);
    assert.equal(countControlFrames(0), 1);
    assert.equal(countControlFrames(1), 2);
    assert.equal(countControlFrames(65), 3);
    for (const n of [1, 63, 64, 65, 1000]) {
      // The last sample n − 1 must not lie beyond the last frame centre.
      assert.ok((countControlFrames(n) - 1) * 64 >= n - 1, `n = ${n}`);
    }
    assert.throws(() => countControlFrames(-1), /non-negative integer/);
    assert.throws(() => countControlFrames(10, 0), /positive integer/);
  });
});

describe('pitch tracking of synthetic tones', () => {
  const plan = new YinPlan();
  // 1 s per tone keeps the file fast; frames within 0.1 s of the ends (zero padding) are skipped.
  const n = SR;
  const inner = (frames: number): number[] => Array.from({ length: frames - 50 }, (_, k) => k + 25);

  for (const harmonics of [1, 20]) {
    for (const f0 of [55, 110, 220, 440, 880, 1760]) {
      test(`${harmonics === 1 ? 'sine' : 'sawtooth-like'} at ${f0} Hz: steady within 1 cent, vibrato ±50 cents within 7`, () => {
        const steady = plan.track(tone(f0, harmonics, 0, n));
        for (const t of inner(steady.f0Hz.length)) {
          expectClose(cents(steady.f0Hz[t], f0), 0, { atol: 1 }, `frame ${t} cents`);
          assert.ok(steady.confidence[t] > 0.95, `frame ${t} confidence ${steady.confidence[t]}`);
        }
        // The analysis span (702 samples, 44 ms) averages the pitch over a fifth of a 5 Hz
        // vibrato cycle, which flattens its peaks by ≈ 7 % of the depth: 3.5 cents of 50 (measured:
        // ≤ 4.3 cents from 110 Hz up, 6.0 at 55 Hz).
        const vib = plan.track(tone(f0, harmonics, 50, n));
        for (const t of inner(vib.f0Hz.length)) {
          expectClose(cents(vib.f0Hz[t], vibratoHz(f0, 50, t * 64)), 0, { atol: 7 }, `vibrato frame ${t} cents`);
          assert.ok(vib.confidence[t] > 0.9, `vibrato frame ${t} confidence ${vib.confidence[t]}`);
        }
      });
    }
  }

  test('digital silence: confidence 0 everywhere, f0 finite (fMin)', () => {
    const track = trackPitch(new Float32Array(4000));
    assert.equal(track.f0Hz.length, countControlFrames(4000));
    assert.ok(track.confidence.every((c) => c === 0));
    assert.ok(track.f0Hz.every((f) => f === DDX7_PITCH.fMinHz));
  });

  test('white noise: low confidence', () => {
    const track = plan.track(noise(n, 7, 0.5));
    const c = Array.from(track.confidence);
    assert.ok(Math.max(...c) < 0.5, `max confidence ${Math.max(...c)}`);
    assert.ok(median(c) < 0.25, `median confidence ${median(c)}`);
  });

  test('a tone after silence: the silent frames hold the first confident estimate, not the onset frame\'s', () => {
    const x = new Float32Array(8000);
    x.set(tone(220, 5, 0, 4000), 4000);
    const track = plan.track(x);
    // Frames ≥ 1000 samples (half a span + margin) from the onset are silent.
    for (let t = 0; t < 45; t++) {
      assert.equal(track.confidence[t], 0);
      expectClose(cents(track.f0Hz[t], 220), 0, { atol: 1 }, `silent frame ${t}`);
    }
  });

  test('input is not mutated; out buffers are used and checked', () => {
    const x = tone(330, 8, 0, 4000);
    const copy = Float32Array.from(x);
    const frames = countControlFrames(x.length);
    const out = { f0Hz: new Float32Array(frames), confidence: new Float32Array(frames) };
    const track = plan.track(x, out);
    assert.equal(track.f0Hz, out.f0Hz);
    assert.deepEqual(x, copy);
    assert.throws(() => plan.track(x, { f0Hz: new Float32Array(3), confidence: new Float32Array(3) }), /expected/);
    const ld = new Float32Array(frames);
    assert.equal(new LoudnessPlan().compute(x, ld), ld);
    assert.deepEqual(x, copy);
  });

  test('bad configurations are refused', () => {
    assert.throws(() => new YinPlan({ ...DDX7_PITCH, fMinHz: 3000 }), /fMinHz/);
    assert.throws(() => new YinPlan({ ...DDX7_PITCH, frameLength: 512 }), /integration window/);
    assert.throws(() => new YinPlan({ ...DDX7_PITCH, threshold: 0 }), /threshold/);
  });
});

describe('pitch helpers', () => {
  test('MIDI ↔ Hz, metadata f0, decoder scaling (MIDI/127)', () => {
    expectClose(midiOfHz(440), 69, { atol: 1e-12 });
    expectClose(midiOfHz(261.6255653), 60, { atol: 1e-6 });
    expectClose(hzOfMidi(midiOfHz(123.4)), 123.4, { rtol: 1e-12 });
    assert.deepEqual(Array.from(f0FromMetadata(69, 3)), [440, 440, 440]);
    assert.equal(f0FromMetadata(60, 0).length, 0);
    assert.throws(() => f0FromMetadata(Number.NaN, 3), /finite/);
    const s = scaleF0(Float32Array.of(440, hzOfMidi(127), hzOfMidi(0)));
    expectClose(s[0], 69 / 127, { atol: 1e-6 });
    expectClose(s[1], 1, { atol: 1e-6 });
    expectClose(s[2], 0, { atol: 1e-6 });
  });
});

describe('A-weighted loudness', () => {
  test('A-weighting against IEC 61672-1 Table 3 (exact mid-band frequencies 1000·10^(k/10) Hz)', () => {
    // The nominal "31.5 Hz" band is 10^1.5 kHz = 31.62 Hz; the table's values are for these.
    const table: [number, number][] = [
      [1000, 0],
      [100, -19.1],
      [10000, -2.5],
      [1000 * 10 ** -1.5, -39.4],
      [1000 * 10 ** -0.5, -6.6], // "315 Hz"
      [1000 * 10 ** 0.5, 1.2], // "3150 Hz"
    ];
    for (const [f, a] of table) expectClose(aWeightingDb(f), a, { atol: 0.1 }, `A(${f.toFixed(2)} Hz)`);
    assert.equal(aWeightingDb(0), -Infinity);
    // Below 1 kHz the curve rises monotonically.
    for (let f = 20; f < 1000; f *= 1.1) assert.ok(aWeightingDb(f * 1.1) > aWeightingDb(f));
  });

  test('frames align with the pitch track; silence is the −80 dB floor', () => {
    const x = new Float32Array(5000);
    const l = loudnessDb(x);
    assert.equal(l.length, countControlFrames(5000));
    assert.ok(l.every((v) => v === -80));
  });

  test("'power' averaging of a 1 kHz sine against Parseval: 10·log10(a²/2 · 3N²/16 / bins) − 20.7 dB", () => {
    // Σ over the one-sided bins of |X|² for a sine of amplitude a under a periodic Hann of N is
    // (N/2)·Σ w²·a²/2 = (N/2)·(3N/8)·a²/2; A(1 kHz) = 0 over the main lobe (±8 Hz) to 1e-3 dB.
    const nFft = DDX7_LOUDNESS.nFft;
    const bins = nFft / 2 + 1;
    const plan = new LoudnessPlan({ ...DDX7_LOUDNESS, averaging: 'power' });
    for (const a of [0.5, 0.05]) {
      const l = plan.compute(tone(1000, 1, 0, 8000, a));
      const expected = 10 * Math.log10(((nFft / 2) * ((3 * nFft) / 8) * (a * a)) / 2 / bins) - 20.7;
      for (let t = 20; t < l.length - 20; t++) expectClose(l[t], expected, { atol: 0.02 }, `a = ${a}, frame ${t}`);
    }
  });

  test("a sine 20 dB quieter is 20 dB lower with 'power' averaging; DDX7's per-bin floor compresses it", () => {
    const power = new LoudnessPlan({ ...DDX7_LOUDNESS, averaging: 'power' });
    const ddx7 = new LoudnessPlan();
    const loud = tone(440, 1, 0, 8000, 0.5);
    const quiet = tone(440, 1, 0, 8000, 0.05);
    const t = 60;
    expectClose(power.compute(loud)[t] - power.compute(quiet)[t], 20, { atol: 0.01 }, "'power' drop");
    // DDX7 ('db'): most of a sine's 1025 bins sit on the −80 dB floor at either level, so the
    // mean moves by ≈ 1 dB, not 20. This is the reference's definition, kept on purpose.
    const drop = ddx7.compute(loud)[t] - ddx7.compute(quiet)[t];
    assert.ok(drop > 0 && drop < 5, `'db' drop of a sine ${drop}`);
  });

  test("DDX7 ('db') averaging: broadband noise 20 dB quieter is ≈ 20 dB lower; matches a per-bin log reference", () => {
    const plan = new LoudnessPlan();
    const loud = noise(8000, 3, 0.5);
    const quiet = loud.map((v) => v * 0.1);
    const a = plan.compute(loud);
    const b = plan.compute(quiet);
    for (let t = 20; t < a.length - 20; t++) expectClose(a[t] - b[t], 20, { atol: 0.5 }, `frame ${t}`);
    // Reference: the definition written out with one log per bin.
    const nFft = 2048;
    const fft = new RealFftPlan(nFft);
    const w = hannPeriodic(nFft);
    const p = new Float64Array(fft.bins);
    const centre = 64 * 60;
    const frame = new Float64Array(nFft);
    for (let i = 0; i < nFft; i++) frame[i] = loud[centre - nFft / 2 + i] * w[i];
    fft.power(frame, p);
    let sum = 0;
    for (let k = 0; k < fft.bins; k++) {
      const aw = Math.max(aWeightingDb((k * SR) / nFft), A_WEIGHTING_FLOOR_DB);
      sum += Math.max(10 * Math.log10(Math.max(p[k], 1e-40)) + aw - 20.7, -80);
    }
    expectClose(a[60], sum / fft.bins, { atol: 1e-3 }, 'frame 60 against the per-bin reference');
  });

  test('decoder scaling: (dB + 80)/80', () => {
    assert.deepEqual(Array.from(scaleLoudness(Float32Array.of(-80, -40, 0))), [0, 0.5, 1]);
  });
});

describe('fixture notes (nsynth-gm): median f0 of the held part within 20 cents of the MIDI pitch', () => {
  /**
   * Excluded, with the evidence (a 65 536-point FFT over 0.25–2.75 s of each note):
   * - organ_electronic_016 (GM Drawbar Organ, 2 notes): its strongest partials lie one and two
   *   octaves *below* the nominal note (a 16′-style sub-octave registration), so the waveform's
   *   period is 4× the note's; YIN rightly reports that period (note 60 → 65 Hz) or, for note 48
   *   (period at 32.7 Hz, below the 50 Hz range), nothing confident. Metadata pitch is the only
   *   sensible f0 for it, which is why f0FromMetadata exists.
   * - vocal_acoustic_052 (GM Choir Aahs, 2 notes): a detuned ensemble whose partials sit 15–30
   *   cents flat of the key; there is no single true f0 to be within 20 cents of.
   * Mallets stay in: vibraphone (011) and xylophone (013) are tracked within 5 cents where
   * confident, though the xylophone is confident on only ~25 % of its decay.
   */
  const EXCLUDED = ['organ_electronic_016', 'vocal_acoustic_052'];

  test('all other notes pass', (t) => {
    const examples = JSON.parse(readFileSync(path.join(FIXTURE_DIR, 'examples.json'), 'utf8')) as Record<
      string,
      { pitch: number; instrument_str: string }
    >;
    const names = Object.keys(examples);
    assert.equal(names.length, 51, 'the fixture has 51 notes');
    const plan = new YinPlan();
    const errors: number[] = [];
    let excluded = 0;
    for (const name of names) {
      const meta = examples[name];
      if (EXCLUDED.includes(meta.instrument_str)) {
        excluded++;
        continue;
      }
      const x = decodeWav(readFileSync(path.join(FIXTURE_DIR, 'audio', `${name}.wav`)), { sampleRate: SR }).samples;
      const track = plan.track(x);
      // Held part: after the attack (0.25 s), before the note-off at 3 s; confident = DDX7's
      // CREPE threshold (0.85).
      const midis: number[] = [];
      for (let f = Math.round(0.25 * 250); f < Math.round(2.9 * 250); f++) {
        if (track.confidence[f] >= 0.85) midis.push(midiOfHz(track.f0Hz[f]));
      }
      assert.ok(midis.length >= 50, `${name}: only ${midis.length} confident frames in the held part`);
      const err = 100 * (median(midis) - meta.pitch);
      assert.ok(Math.abs(err) <= 20, `${name}: median f0 is ${err.toFixed(1)} cents from MIDI ${meta.pitch}`);
      errors.push(Math.abs(err));
    }
    assert.equal(excluded, 4);
    assert.equal(errors.length, 47);
    t.diagnostic(`${errors.length} notes checked (${excluded} excluded): |error| median ${median(errors).toFixed(1)} cents, max ${Math.max(...errors).toFixed(1)} cents`);
  });
});
