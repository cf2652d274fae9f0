/**
 * Spec §5–6 distances and baselines. The key test reproduces every row of
 * `fixtures/nsynth-gm/reference-distances.csv`, computed by an independent implementation.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeWav } from '../src/dsp/wav.ts';
import { computeDistances, DistanceCalculator, prepareSignal, SIGNAL_SAMPLES, type Distances } from '../src/features/distances.ts';
import { improvement, midiToHz, pitchedSineBaseline, rmsEnvelope, sine440Baseline } from '../src/eval/baselines.ts';
import { expectClose, SHARED_DIR, noise } from './helpers.ts';

const FIXTURE_DIR = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');


/** A decaying two-partial tone, 16 kHz: something with a timbre. */
function tone(hz: number, length = SIGNAL_SAMPLES): Float64Array {
  return new Float64Array(length).map((_, n) => {
    const t = n / 16000;
    return Math.exp(-t) * (Math.sin(2 * Math.PI * hz * t) + 0.3 * Math.sin(2 * Math.PI * 3 * hz * t));
  });
}

describe('prepareSignal', () => {
  test('zero-pads, removes the mean over 64 000 samples, normalises the peak to 1', () => {
    const x = new Float32Array(1000).fill(0.5);
    x[10] = 2;
    const copy = Float32Array.from(x);
    const y = prepareSignal(x);
    assert.equal(y.length, 64000);
    assert.deepEqual(x, copy, 'input not mutated');
    let sum = 0;
    let peak = 0;
    for (const v of y) {
      sum += v;
      peak = Math.max(peak, Math.abs(v));
    }
    expectClose(sum, 0, { atol: 1e-9 }, 'Σy');
    expectClose(peak, 1, { atol: 1e-15 }, 'peak');
    // The mean is taken after padding: (999·0.5 + 2)/64000.
    const mean = (999 * 0.5 + 2) / 64000;
    expectClose(y[63999], -mean / (2 - mean), { rtol: 1e-12 }, 'padded tail');
  });

  test('cuts long signals and leaves silence silent', () => {
    const x = noise(70000, 1);
    const y = prepareSignal(x);
    assert.equal(y.length, 64000);
    const z = prepareSignal(x.subarray(0, 64000));
    assert.deepEqual(y, z);
    assert.ok(prepareSignal(new Float64Array(64000)).every((v) => v === 0));
    assert.ok(prepareSignal(new Float64Array(64000).fill(0.25)).every((v) => v === 0));
    assert.throws(() => prepareSignal(new Float64Array([0, Number.NaN])), /not finite/);
  });
});

describe('distances', () => {
  test('are zero for the same timbre at another gain and DC offset', () => {
    const x = tone(220);
    const y = x.map((v) => 0.3 * v + 0.1);
    const d = computeDistances(x, y);
    // Not bit-exact: 0.3·x + 0.1 rounds differently from x, and the log-mel sums 16 128 cells in dB.
    // Distances between different timbres are O(10…10⁴), so 1e-6 is "zero".
    for (const k of ['fft', 'stft', 'logMel', 'logMelNormalized'] as const) expectClose(d[k], 0, { atol: 1e-6 }, k);
  });

  test('are symmetric, and reusing a prepared reference changes nothing', () => {
    const a = tone(220);
    const b = tone(330);
    const c = noise(64000, 2);
    const calc = new DistanceCalculator();
    const ref = calc.prepareReference(a);
    const viaRef = [calc.compare(ref, b), calc.compare(ref, c), calc.compare(ref, b)];
    const oneShot = [computeDistances(a, b), computeDistances(a, c)];
    const swapped = computeDistances(b, a);
    // Both sides prepared once (the evaluator's sine-440 baseline): the very same numbers.
    const prepared = [calc.comparePrepared(ref, calc.prepareReference(b)), calc.comparePrepared(ref, calc.prepareReference(c))];
    const keys = ['fft', 'stft', 'logMel', 'logMelNormalized'] as const;
    for (const k of keys) {
      assert.equal(prepared[0][k], viaRef[0][k], `${k}: prepared candidate`);
      assert.equal(prepared[1][k], viaRef[1][k], `${k}: prepared candidate (noise)`);
      assert.equal(viaRef[0][k], oneShot[0][k], `${k}: reference reuse`);
      assert.equal(viaRef[1][k], oneShot[1][k], `${k}: reference reuse (noise)`);
      assert.equal(viaRef[2][k], viaRef[0][k], `${k}: scratch buffers leak between candidates`);
      expectClose(swapped[k], oneShot[0][k], { rtol: 1e-12 }, `${k}: symmetry`);
      assert.ok(oneShot[0][k] > 0, `${k} of different tones is positive`);
    }
    expectClose(oneShot[0].logMelNormalized, oneShot[0].logMel / (128 * 126), { rtol: 1e-15 }, 'normalisation');
  });

  test('the FFT distance equals the L2 norm of |rfft| differences at 65 536 points', () => {
    // Closed form: two zero-mean, peak-1 impulse pairs (preparation leaves them unchanged).
    const x = new Float64Array(64000);
    x[100] = 1;
    x[101] = -1;
    const y = new Float64Array(64000);
    y[5000] = 1;
    y[5002] = -1;
    const d = computeDistances(x, y);
    // After preparation each is ±1 minus a zero mean; |X(ω)| = |1 − e^{−iω}| = 2|sin(ω/2)| and
    // |Y(ω)| = 2|sin(ω)|; the distance is sqrt(Σ_k (|X_k| − |Y_k|)²) over 32 769 bins.
    let sq = 0;
    for (let k = 0; k <= 32768; k++) {
      const w = (2 * Math.PI * k) / 65536;
      const dk = 2 * Math.abs(Math.sin(w / 2)) - 2 * Math.abs(Math.sin(w));
      sq += dk * dk;
    }
    expectClose(d.fft, Math.sqrt(sq), { rtol: 1e-9 }, 'fft distance');
  });

  test('refuses a reference prepared under another configuration', () => {
    const calc = new DistanceCalculator();
    const other = new DistanceCalculator({ signalSamples: 32000, fftSize: 32768, spectrogram: calc.config.spectrogram });
    assert.throws(() => calc.compare(other.prepareReference(tone(220, 32000)), tone(220)), /different configuration/);
    assert.throws(() => calc.comparePrepared(calc.prepareReference(tone(220)), other.prepareReference(tone(220, 32000))), /different configuration/);
    assert.throws(() => new DistanceCalculator({ ...calc.config, fftSize: 32768 }), /shorter than the signal/);
  });
});

describe('baselines', () => {
  test('midiToHz and improvement', () => {
    expectClose(midiToHz(69), 440, { atol: 0 }, 'A4');
    expectClose(midiToHz(60), 261.6255653005986, { rtol: 1e-14 }, 'C4');
    expectClose(midiToHz(81), 880, { rtol: 1e-15 }, 'A5');
    expectClose(improvement(10, 4), 0.6, { rtol: 1e-15 }, 'improvement');
    expectClose(improvement(10, 12), -0.2, { rtol: 1e-15 }, 'worse than baseline');
    assert.ok(Number.isNaN(improvement(0, 1)));
  });

  test('sine 440 is full scale at phase 0', () => {
    const s = sine440Baseline();
    assert.equal(s.length, 64000);
    assert.equal(s[0], 0);
    expectClose(s[9], Math.sin((2 * Math.PI * 440 * 9) / 16000), { atol: 0 }, 's[9]');
  });

  test('the RMS envelope averages x[n−32 … n+31]², zero outside the signal', () => {
    const x = noise(10000, 4);
    const e = rmsEnvelope(x);
    for (const n of [0, 1, 31, 32, 33, 5000, 8191, 8192, 9968, 9969, 9999]) {
      let acc = 0;
      for (let j = n - 32; j <= n + 31; j++) if (j >= 0 && j < x.length) acc += x[j] * x[j];
      expectClose(e[n], Math.sqrt(acc / 64), { rtol: 1e-12 }, `e[${n}]`);
    }
    const p = pitchedSineBaseline(x, 69);
    expectClose(p[123], Math.sin((2 * Math.PI * 440 * 123) / 16000) * e[123], { rtol: 1e-12 }, 'pitched sine');
  });
});

describe('reference-distances.csv (independent implementation of spec §5–6)', () => {
  // About 1e-3 relative is what the spec asks; this implementation agrees to ~1e-6, so a tighter
  // bound (1e-4) is kept to catch regressions that would still pass the spec's.
  const RTOL = 1e-4;
  const csv = readFileSync(path.join(FIXTURE_DIR, 'reference-distances.csv'), 'utf8').trim().split(/\r?\n/);
  const header = csv[0].split(',');
  const examples = JSON.parse(readFileSync(path.join(FIXTURE_DIR, 'examples.json'), 'utf8')) as Record<string, { pitch: number }>;
  const columns: Record<string, keyof Distances> = { fft: 'fft', stft: 'stft', logmel: 'logMel', logmel_normalized: 'logMelNormalized' };

  test('covers every fixture note and both baselines', () => {
    assert.deepEqual(header, ['note_str', 'baseline', 'fft', 'stft', 'logmel', 'logmel_normalized']);
    const pairs = new Set(csv.slice(1).map((l) => l.split(',').slice(0, 2).join('/')));
    assert.equal(Object.keys(examples).length, 51);
    for (const note of Object.keys(examples)) {
      for (const b of ['sine440', 'pitched']) assert.ok(pairs.has(`${note}/${b}`), `missing row ${note}/${b}`);
    }
    assert.equal(csv.length - 1, 102);
  });

  test('every row reproduces', () => {
    const calc = new DistanceCalculator();
    const sine440 = sine440Baseline();
    const byNote = new Map<string, Map<string, string[]>>();
    for (const line of csv.slice(1)) {
      const cells = line.split(',');
      const note = cells[0];
      if (!byNote.has(note)) byNote.set(note, new Map());
      byNote.get(note)!.set(cells[1], cells);
    }
    const worst: Record<string, number> = {};
    for (const [note, rows] of byNote) {
      const meta = examples[note];
      assert.ok(meta, `${note} is not in examples.json`);
      const wav = decodeWav(readFileSync(path.join(FIXTURE_DIR, 'audio', `${note}.wav`)), { sampleRate: 16000, mono: true });
      const ref = calc.prepareReference(wav.samples);
      for (const [baseline, cells] of rows) {
        const candidate = baseline === 'sine440' ? sine440 : baseline === 'pitched' ? pitchedSineBaseline(ref.signal, meta.pitch) : undefined;
        assert.ok(candidate, `unknown baseline ${baseline}`);
        const d = calc.compare(ref, candidate);
        for (const [col, key] of Object.entries(columns)) {
          const expected = Number(cells[header.indexOf(col)]);
          expectClose(d[key], expected, { rtol: RTOL }, `${note} ${baseline} ${col}`);
          const rel = Math.abs(d[key] - expected) / Math.abs(expected);
          worst[`${baseline}.${col}`] = Math.max(worst[`${baseline}.${col}`] ?? 0, rel);
        }
      }
    }
    // Printed so that the achieved agreement is visible in the test log.
    console.log('max relative error vs reference-distances.csv:', JSON.stringify(worst));
  });
});

test('compareUnless: without abandoning it is compare, bit for bit; its running sums only grow and end at the squared distances; abandoning returns null', () => {
  const calc = new DistanceCalculator();
  const ref = calc.prepareReference(sine440Baseline(16000, SIGNAL_SAMPLES));
  const cand = noise(SIGNAL_SAMPLES, 7);
  const full = calc.compare(ref, cand);
  assert.deepEqual(calc.compareUnless(ref, cand, null), full);
  const seen: [number, number, number][] = [];
  assert.deepEqual(calc.compareUnless(ref, cand, (f, s, m) => (seen.push([f, s, m]), false)), full);
  // After the FFT part, then every 8 frames but the last: 1 + floor(125 / 8) calls for 126 frames.
  assert.equal(seen.length, 1 + Math.floor((calc.frames - 1) / 8));
  for (let i = 1; i < seen.length; i++) for (let c = 0; c < 3; c++) assert.ok(seen[i]![c]! >= seen[i - 1]![c]!, `sum ${c} fell at call ${i}`);
  const last = seen[seen.length - 1]!;
  assert.equal(Math.sqrt(last[0]), full.fft, 'the FFT sum is complete from the first call');
  assert.ok(Math.sqrt(last[1]) <= full.stft && Math.sqrt(last[2]) <= full.logMel);
  let calls = 0;
  assert.equal(calc.compareUnless(ref, cand, () => (calls++, true)), null);
  assert.equal(calls, 1, 'stops at the first true');
  // The calculator is reusable after an abandoned comparison.
  assert.deepEqual(calc.compare(ref, cand), full);
});
