/**
 * The spectral carrier estimator (ours): the log-frequency spectrum against closed forms (a sine's
 * bin, level invariance, the octave shift of a harmonic tone), the target/read-out round trip, and
 * `train-carrier` end to end on a tiny dataset as a user runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadAudio, openDataset } from '../src/dataset/reader.ts';
import { readSplit } from '../src/model/train-cnn.ts';
import { checkLogSpectrumConfig, DEFAULT_LOG_SPECTRUM, LogSpectrumPlan, logSpectrumBinHz, logSpectrumBinOf } from '../src/features/log-spectrum.ts';
import { initBackend } from '../src/model/backend.ts';
import { carrierNetStatus, decodeCarrier, DEFAULT_CARRIER_NET_CONFIG, encodeCarrierTarget, loadCarrierNet, predictCarrierHz, spectraOfRows, trainCarrierNet } from '../src/model/carrier-net.ts';
import { loadCnn, predictParams } from '../src/model/predict.ts';
import { assertOneLineError, expectClose, REPO_ROOT, runCli, tempDir } from './helpers.ts';

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
  // Bin k is centred on 15·2^(k/120) Hz: 1200·log2(f/15)/10, rounded, written out by hand.
  const expectedBin: Record<number, number> = { 16: 11, 17: 22, 20: 50, 27.5: 105, 110: 345, 440: 585, 1234.5: 764, 5000: 1006, 7500: 1076 };
  for (const [hzText, bin] of Object.entries(expectedBin)) {
    const hz = Number(hzText);
    plan.compute(tone([[hz, 0.8]]), out);
    const k = argmax(out);
    assert.equal(k, bin, `${hz} Hz peaks in bin ${k} (${logSpectrumBinHz(cfg, k).toFixed(2)} Hz), expected ${bin}`);
    assert.ok(Math.abs(logSpectrumBinOf(cfg, hz) - bin) <= 0.5, `bin of ${hz} Hz`);
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
  // Centred on bin 585 (15·2^(585/120) Hz): σ = 15 cents = 1.5 bins, so one bin away the bump is
  // e^(−10²/(2·15²)) of its peak and three bins away e^(−2).
  encodeCarrierTarget(DEFAULT_CARRIER_NET_CONFIG, 15 * 2 ** (585 / 120), y);
  expectClose((y[586] as number) / (y[585] as number), Math.exp(-100 / 450), { rtol: 1e-5 }, 'one bin up');
  expectClose((y[582] as number) / (y[585] as number), Math.exp(-2), { rtol: 1e-5 }, 'three bins down');
  for (const hz of [20, 20.5, 97.3, 440, 1000.7, 5999]) {
    encodeCarrierTarget(DEFAULT_CARRIER_NET_CONFIG, hz, y);
    expectClose(y.reduce((s, v) => s + v, 0), 1, { atol: 1e-5 }, 'sum');
    const back = decodeCarrier(cfg, y);
    assert.ok(Math.abs(1200 * Math.log2(back / hz)) < 1, `${hz} Hz read back as ${back}`);
  }
  // The read-out never leaves the carrier's range (20 … 6,000 Hz), wherever the mass sits.
  for (const bins of [[0], [48, 49, 50], [1037, 1038, 1039, 1040], [1084]]) {
    y.fill(0);
    for (const b of bins) y[b] = 1;
    const hz = decodeCarrier(cfg, y);
    assert.ok(hz >= 20 && hz <= 6000, `mass on bins ${bins.join(',')} read as ${hz} Hz`);
  }
  assert.throws(() => encodeCarrierTarget(DEFAULT_CARRIER_NET_CONFIG, 0, y), /positive/);
});

test('train-carrier: trains into <model>/carrier, resumes, and the model then predicts with it', async () => {
  const tmp = tempDir('fmmatch-carrier-test-');
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
  assert.match(readFileSync(path.join(dir, 'report.html'), 'utf8'), /Carrier errors by kind.*\d+ of 3 test notes/s);
  assert.match(readFileSync(path.join(dir, 'report.html'), 'utf8'), /Right carriers per level of the carrier's own component.*below -30 dB/s);
  // A consistency check (both go through carrierProbabilities and decodeCarrier): the script's
  // read-out must line its notes up with the test split exactly as train-carrier does.
  const analysis = spawnSync(process.execPath, ['--import', 'tsx', 'bench/carrier-analysis.ts', '--model', model, '--search', '3', '--budget', '4'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(analysis.status, 0, analysis.stderr);
  const within = (text: string, re: RegExp): string => (text.match(re) ?? [])[1] ?? 'missing';
  assert.equal(within(analysis.stdout, /read-out \(mode\).*within 50 cents ([\d.]+) %/), within(again.stdout, /([\d.]+) % within 50 cents/));
  assert.match(analysis.stdout, /true carrier among the net's k most probable modes: k=1 [\d.]+ %/);
  const checked = Number(within(analysis.stdout, /identifiability check on (\d+) missed notes/));
  assert.equal((analysis.stdout.match(/: true patch [\d.]+ dB/g) ?? []).length, checked);

  // Same seed, same bytes: two epochs straight equal one epoch plus a resume to two.
  const straight = path.join(tmp, 'model-straight');
  cpSync(model, straight, { recursive: true });
  rmSync(path.join(straight, 'carrier'), { recursive: true });
  const s2 = runCli('train-carrier', ['--model', straight, '--epochs', '2', '--batch', '4', '--channels', '4', '--quiet']);
  assert.equal(s2.status, 0, s2.stderr);
  assert.ok(readFileSync(path.join(straight, 'carrier', 'weights.bin')).equals(readFileSync(path.join(dir, 'weights.bin'))), 'resumed and straight runs give the same weights');
  assert.equal(carrierNetStatus(straight), 'ready');

  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', path.join(tmp, 'nope')]), /not a train-cnn output folder/);
  const other = path.join(tmp, 'ds-other');
  assert.equal(runCli('gen-dataset', ['--count', '12', '--seed', '10', '--out', other, '--quiet']).status, 0);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--data', other]), /not the dataset .* was trained on/);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--batch', '4', '--channels', '8', '--resume']), /other options \(--channels 4 vs 8; checkpoint first\)/);
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

  // A carrier net trained beside another split is refused (it may have seen this model's test notes).
  const split = JSON.parse(readFileSync(path.join(model, 'split.json'), 'utf8'));
  [split.rows.train[0], split.rows.test[0]] = [split.rows.test[0], split.rows.train[0]];
  const swapped = path.join(tmp, 'model-swapped');
  cpSync(model, swapped, { recursive: true });
  writeFileSync(path.join(swapped, 'split.json'), JSON.stringify(split));
  await assert.rejects(loadCnn(swapped), /trained beside another split/);
  assert.equal((await loadCnn(swapped, { spectralCarrier: false })).carrierSource, 'cnn-net-off');
});

test('train-carrier never reads the test notes, and an unfinished net is not used', async () => {
  const tmp = tempDir('fmmatch-carrier-leak-');
  const data = path.join(tmp, 'ds');
  const model = path.join(tmp, 'model');
  assert.equal(runCli('gen-dataset', ['--count', '12', '--seed', '11', '--out', data, '--quiet']).status, 0);
  assert.equal(runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '1', '--batch', '4', '--quiet']).status, 0);
  const index = openDataset(data);
  const split = readSplit(model);
  // Remove the test notes' audio: training must not need it.
  for (const r of split.test) rmSync(path.join(data, 'audio', `${index.ids[r]}.wav`));
  const backend = await initBackend({ backend: 'wasm', threads: 1 });
  const config = { ...DEFAULT_CARRIER_NET_CONFIG, epochs: 3, batchSize: 4, channels: 4 };
  // A Ctrl-C arrives as a macrotask (a signal handler): the batch loop must yield to the event
  // loop for it to land before the epoch's end.
  const early = path.join(tmp, 'model-signal');
  cpSync(model, early, { recursive: true });
  const signalled = new AbortController();
  let batchesRun = 0;
  const cut = await trainCarrierNet(index, early, split, config, backend, false, { onBatch: () => (batchesRun++, setImmediate(() => signalled.abort())), signal: signalled.signal });
  assert.deepEqual([cut.stopped, cut.epochsDone, batchesRun], ['interrupted', 0, 1]);
  const abort = new AbortController();
  const tensors = tf.memory().numTensors;
  const first = await trainCarrierNet(index, model, split, config, backend, false, { onEpoch: () => abort.abort(), onBatch: () => undefined, signal: abort.signal });
  assert.equal(first.epochsDone, 1);
  // Interrupted during epoch 2: the epoch-1 net exists but is not used until the run finishes.
  assert.equal(carrierNetStatus(model), 'unfinished');
  const cnn = await loadCnn(model);
  assert.equal(cnn.carrier, null);
  assert.equal(cnn.carrierSource, 'cnn-net-unfinished');
  cnn.model.dispose();
  const done = await trainCarrierNet(index, model, split, config, backend, true);
  assert.equal(done.epochsDone, 3);
  assert.equal(carrierNetStatus(model), 'ready');
  // Resuming a finished run trains nothing, so it reads no note at all.
  for (const r of [...split.train, ...split.validation]) rmSync(path.join(data, 'audio', `${index.ids[r]}.wav`));
  const again = await trainCarrierNet(index, model, split, config, backend, true);
  assert.deepEqual([again.epochsDone, again.stopped], [3, 'max-epochs']);
  assert.equal(tf.memory().numTensors, tensors, 'training releases every tensor (model, optimizer, batches)');
});

test('train-carrier --extra-data: every extra note joins training; datasets sharing a patch with the model\'s are refused', async () => {
  const tmp = tempDir('fmmatch-carrier-extra-');
  const data = path.join(tmp, 'ds');
  const model = path.join(tmp, 'model');
  const extra = path.join(tmp, 'extra');
  const sameSeed = path.join(tmp, 'same-seed');
  for (const [out, count, seed] of [[data, 12, 12], [extra, 6, 13], [sameSeed, 5, 12]] as const) {
    assert.equal(runCli('gen-dataset', ['--count', String(count), '--seed', String(seed), '--out', out, '--quiet']).status, 0);
  }
  const otherSynth = path.join(tmp, 'other-synth');
  assert.equal(runCli('gen-dataset', ['--count', '4', '--seed', '14', '--algorithm', 'dx7-5', '--feedback', '3', '--out', otherSynth, '--quiet']).status, 0);
  assert.equal(runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '1', '--batch', '4', '--quiet']).status, 0);
  const split = readSplit(model);
  const opts = ['--model', model, '--epochs', '1', '--batch', '4', '--channels', '4', '--quiet'];
  // The same seed makes the same first patches: the model's test notes would leak into training.
  assertOneLineError('train-carrier', runCli('train-carrier', [...opts, '--extra-data', sameSeed]), /same parameters as .*must not share patches/);
  assertOneLineError('train-carrier', runCli('train-carrier', [...opts, '--extra-data', data]), /already part of the training data/);
  assertOneLineError('train-carrier', runCli('train-carrier', [...opts, '--extra-data', path.join(tmp, 'nope')]), /no such dataset folder/);
  // Another routing and feedback: the same parameters would sound different.
  assertOneLineError('train-carrier', runCli('train-carrier', [...opts, '--extra-data', otherSynth]), /made with another synth than the model's dataset \(algorithm paper-3s2p vs dx7-5, feedback 0 vs 3; the model's first\)/);
  assert.ok(!existsSync(path.join(model, 'carrier')), 'a refused run writes nothing');

  const r = runCli('train-carrier', [...opts, '--extra-data', extra]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`, ${split.train.length + 6} training notes\\)`));
  const saved = JSON.parse(readFileSync(path.join(model, 'carrier', 'config.json'), 'utf8'));
  assert.deepEqual(saved.extraData.map((x: { notes: number; contentHash: string }) => [x.notes, x.contentHash]), [[6, openDataset(extra).contentHash]]);
  assert.match(readFileSync(path.join(model, 'carrier', 'report.html'), 'utf8'), /Trained on the CNN's training split and every note of \S*extra \(6\) \(--extra-data\)/);
  assertOneLineError('train-carrier', runCli('train-carrier', ['--model', model, '--epochs', '2', '--batch', '4', '--channels', '4', '--resume']), /trained with other extra data/);

  // Spectra written into a shared buffer at an offset are those computed alone, and only there.
  const bins = DEFAULT_LOG_SPECTRUM.count;
  const alone = (await spectraOfRows(openDataset(extra), [4, 5], DEFAULT_LOG_SPECTRUM))!;
  const shared = new Float32Array(6 * bins);
  await spectraOfRows(openDataset(extra), [4, 5], DEFAULT_LOG_SPECTRUM, undefined, undefined, { out: shared, offsetNotes: 3 });
  assert.deepEqual(shared.subarray(3 * bins, 5 * bins), alone);
  assert.ok(shared.subarray(0, 3 * bins).every((v) => v === 0) && shared.subarray(5 * bins).every((v) => v === 0));
  // A buffer too short for the rows at that offset is an error, not silently dropped spectra.
  await assert.rejects(spectraOfRows(openDataset(extra), [4, 5], DEFAULT_LOG_SPECTRUM, undefined, undefined, { out: shared, offsetNotes: 5 }), /notes 5 … 6 do not fit a buffer of 6 notes/);
  await assert.rejects(spectraOfRows(openDataset(extra), [4], DEFAULT_LOG_SPECTRUM, undefined, undefined, { out: shared, offsetNotes: -1 }), /do not fit/);

  // The batches per epoch count the extra notes (7 + 6 at batch 4: 4 batches; the split alone: 2).
  const backend = await initBackend({ backend: 'wasm', threads: 1 });
  const index = openDataset(data);
  const config = { ...DEFAULT_CARRIER_NET_CONFIG, epochs: 1, batchSize: 4, channels: 4 };
  for (const [dir, extras, trainNotes] of [[path.join(tmp, 'm-plain'), [], split.train.length], [path.join(tmp, 'm-extra'), [openDataset(extra)], split.train.length + 6]] as const) {
    cpSync(model, dir, { recursive: true });
    rmSync(path.join(dir, 'carrier'), { recursive: true });
    let batches = 0;
    const s = await trainCarrierNet(index, dir, split, config, backend, false, { onBatch: (_e, _b, n) => (batches = n) }, extras);
    assert.equal(s.trainNotes, trainNotes);
    assert.equal(batches, Math.ceil(trainNotes / 4));
  }
});
