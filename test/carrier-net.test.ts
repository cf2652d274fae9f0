/**
 * The spectral carrier estimator (ours): the log-frequency spectrum against closed forms (a sine's
 * bin, level invariance, the octave shift of a harmonic tone), the target/read-out round trip, and
 * `train-carrier` end to end on a tiny dataset as a user runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadAudio, openDataset } from '../src/dataset/reader.ts';
import { checkLogSpectrumConfig, DEFAULT_LOG_SPECTRUM, LogSpectrumPlan, logSpectrumBinHz, logSpectrumBinOf } from '../src/features/log-spectrum.ts';
import { initBackend } from '../src/model/backend.ts';
import { decodeCarrier, DEFAULT_CARRIER_NET_CONFIG, encodeCarrierTarget, loadCarrierNet, predictCarrierHz } from '../src/model/carrier-net.ts';
import { loadCnn, predictParams } from '../src/model/predict.ts';
import { assertOneLineError, expectClose, runCli } from './helpers.ts';

const cfg = DEFAULT_LOG_SPECTRUM;
const N = 64000;
const SR = cfg.sampleRate;

function tone(partials: Array<[hz: number, amp: number]>, gain = 1): Float32Array {
  const x = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    let v = 0;
    for (const [hz, a] of partials) v += a * Math.sin((2 * Math.PI * hz * i) / SR);
    x[i] = gain * v;
  }
  return x;
}

function argmax(a: Float32Array): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if ((a[i] as number) > (a[k] as number)) k = i;
  return k;
}

test('log spectrum: a sine peaks in its own bin, at 1 (0 dB), whatever its level; silence is all zeros', () => {
  const plan = new LogSpectrumPlan();
  const out = new Float32Array(cfg.count);
  for (const hz of [27.5, 110, 440, 1234.5, 5000, 7500]) {
    plan.compute(tone([[hz, 0.8]]), out);
    const k = argmax(out);
    assert.ok(Math.abs(k - logSpectrumBinOf(cfg, hz)) <= 0.5 + 1e-9, `${hz} Hz peaks in bin ${k} (${logSpectrumBinHz(cfg, k).toFixed(2)} Hz)`);
    expectClose(out[k] as number, 1, { atol: 1e-6 }, `${hz} Hz peak value`);
    // An octave away the windowed spectrum is down by more than 60 dB.
    const far = Math.round(logSpectrumBinOf(cfg, hz / 2));
    if (far >= 0) assert.ok((out[far] as number) < 0.4, `${hz} Hz: an octave below reads ${out[far]}`);
  }
  const loud = new Float32Array(cfg.count);
  const quiet = new Float32Array(cfg.count);
  plan.compute(tone([[300, 1], [900, 0.3]]), loud);
  plan.compute(tone([[300, 1], [900, 0.3]], 0.01), quiet);
  for (let k = 0; k < cfg.count; k++) expectClose(quiet[k] as number, loud[k] as number, { atol: 1e-5 }, `bin ${k}, level invariance`);
  plan.compute(new Float32Array(N), out);
  assert.ok(out.every((v) => v === 0));
});

test('log spectrum: a harmonic tone an octave higher is the same spectrum shifted by 1200 cents', () => {
  const plan = new LogSpectrumPlan();
  const a = new Float32Array(cfg.count);
  const b = new Float32Array(cfg.count);
  const partials = (f0: number): Array<[number, number]> => [1, 2, 3, 4, 5].map((h) => [f0 * h, 1 / h]);
  plan.compute(tone(partials(200)), a);
  plan.compute(tone(partials(400)), b);
  const shift = 1200 / cfg.binCents;
  // Compare the partials' bins (the shape between partials depends on FFT resolution, not pitch).
  for (let h = 1; h <= 5; h++) {
    const k = Math.round(logSpectrumBinOf(cfg, 200 * h));
    expectClose(b[k + shift] as number, a[k] as number, { atol: 0.01 }, `partial ${h}`);
  }
});

test('log spectrum: layouts reaching the Nyquist frequency are refused', () => {
  assert.throws(() => checkLogSpectrumConfig({ ...cfg, count: 1200 }), /reaches the Nyquist frequency/);
  assert.throws(() => checkLogSpectrumConfig({ ...cfg, binCents: 0 }), /bad layout/);
});

test('carrier target: a bump summing to 1 whose read-out returns the carrier within 1 cent', () => {
  const y = new Float32Array(cfg.count);
  for (const hz of [20, 20.5, 97.3, 440, 1000.7, 5999]) {
    encodeCarrierTarget(DEFAULT_CARRIER_NET_CONFIG, hz, y);
    expectClose(y.reduce((s, v) => s + v, 0), 1, { atol: 1e-5 }, 'sum');
    const back = decodeCarrier(cfg, y);
    assert.ok(Math.abs(1200 * Math.log2(back / hz)) < 1, `${hz} Hz read back as ${back}`);
  }
  // The read-out never leaves the carrier's range, even when the mass sits outside it.
  y.fill(0);
  y[0] = 1;
  assert.ok(decodeCarrier(cfg, y) >= 19.9);
  assert.throws(() => encodeCarrierTarget(DEFAULT_CARRIER_NET_CONFIG, 0, y), /positive/);
});

test('train-carrier: trains into <model>/carrier, resumes, and the model then predicts with it', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fmmatch-carrier-test-'));
  const data = path.join(tmp, 'ds');
  const model = path.join(tmp, 'model');
  assert.equal(runCli('gen-dataset', ['--count', '12', '--seed', '9', '--out', data, '--quiet']).status, 0);
  const cnn = runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '1', '--batch', '4', '--quiet']);
  assert.equal(cnn.status, 0, cnn.stderr);
  const r = runCli('train-carrier', ['--model', model, '--epochs', '1', '--batch', '4', '--channels', '4', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 epochs .*carrier error median [\d.]+ cents.*pooled MAE [\d.]+/);
  const dir = path.join(model, 'carrier');
  for (const f of ['model.json', 'weights.bin', 'config.json', 'history.csv', 'test-metrics.csv', 'report.html']) assert.ok(existsSync(path.join(dir, f)), `${f} missing`);
  const again = runCli('train-carrier', ['--model', model, '--epochs', '2', '--batch', '4', '--channels', '4', '--quiet', '--resume']);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(readFileSync(path.join(dir, 'history.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]), ['1', '2']);
  const metrics = readFileSync(path.join(dir, 'test-metrics.csv'), 'utf8');
  assert.match(metrics, /^pooled,all,/m);
  assert.match(metrics, /^carrier_cents,carrier_hz,cents,,,,[\d.e+]+,[\d.e+]+$/m);

  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', path.join(tmp, 'nope')]), /not a train-cnn output folder/);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--channels', '8', '--resume']), /other options/);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--channels', '4']), /already holds a carrier training run/);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--epochs', '0']), /--epochs must be a positive integer/);

  await initBackend({ backend: 'wasm', threads: 1 });
  const index = openDataset(data);
  const notes = await Promise.all([0, 1, 2].map((i) => loadAudio(index, i)));
  const withNet = await loadCnn(model);
  const without = await loadCnn(model, { spectralCarrier: false });
  assert.ok(withNet.carrier !== null && without.carrier === null);
  const net = await loadCarrierNet(model);
  const tensors = tf.memory().numTensors;
  const expected = predictCarrierHz(net, notes);
  const a = predictParams(withNet, notes, 2);
  const b = predictParams(without, notes, 2);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks');
  for (let i = 0; i < notes.length; i++) {
    expectClose(a[i]![0]!, expected[i]!, { rtol: 1e-9 }, `note ${i}: the carrier is the net's`);
    for (let j = 1; j < 15; j++) expectClose(a[i]![j]!, b[i]![j]!, { rtol: 1e-9, atol: 1e-12 }, `note ${i}: parameter ${j} is the CNN's`);
  }
  for (const p of [withNet, without]) p.model.dispose();
  withNet.carrier?.model.dispose();
  net.model.dispose();
});
