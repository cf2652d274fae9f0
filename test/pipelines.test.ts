/**
 * train-cnn and eval-nsynth end to end, as a user runs them: a tiny dataset, one short training,
 * an evaluation on fixture notes whose baseline distances must match the shared oracle, resume,
 * and the one-line errors for bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_CARRIER_BINS, decodeCarrierBins } from '../src/dataset/carrier-bins.ts';
import { loadAudio, openDataset } from '../src/dataset/reader.ts';
import { decodeWav, encodeWavPcm16 } from '../src/dsp/wav.ts';
import { initBackend } from '../src/model/backend.ts';
import { loadCnn, predictParams } from '../src/model/predict.ts';
import { prepareInput } from '../src/model/train-cnn.ts';
import { makeNoteEvaluator, refineCost } from '../src/eval/resynth.ts';
import { refineStarts, silentNoteReason } from '../src/eval/evaluate.ts';
import { loadDdx7 } from '../src/model/ddx7-predict.ts';
import { REPORT_MARKER } from '../src/report/report-folder.ts';
import { assertOneLineError, expectClose, REPO_ROOT, runCli, SHARED_DIR, tempDir } from './helpers.ts';

// Models, their copies and reports: hundreds of MB per run, removed when the run ends (tempDir).
const tmp = tempDir('fmmatch-pipelines-test-');
const data = path.join(tmp, 'ds');
const model = path.join(tmp, 'model');
const fixture = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');

/** Parses a small CSV without quoted commas (ours: numbers and identifiers). */
function readCsv(file: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
}

test('train-cnn trains, checkpoints, resumes with more epochs, and writes its report', () => {
  const gen = runCli('gen-dataset', ['--count', '12', '--seed', '5', '--out', data, '--quiet']);
  assert.equal(gen.status, 0, gen.stderr);
  const first = runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '1', '--batch', '4', '--quiet']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /1 epochs .*pooled MAE [\d.]+.*carrier error median \d+ cents/);
  // The same seed on 1 thread, 2 epochs straight: compared below with this run resumed to epoch 2.
  const twin = runCli('train-cnn', ['--data', data, '--out', `${model}-twin`, '--epochs', '2', '--batch', '4', '--threads', '1', '--quiet']);
  assert.equal(twin.status, 0, twin.stderr);
  for (const f of ['model.json', 'weights.bin', 'targets.json', 'split.json', 'history.csv', 'test-metrics.csv', 'report.html', 'config.json']) {
    assert.ok(existsSync(path.join(model, f)), `${f} missing`);
  }
  const split = JSON.parse(readFileSync(path.join(model, 'split.json'), 'utf8'));
  assert.deepEqual([split.ids.train.length, split.ids.validation.length, split.ids.test.length], [7, 2, 3]);
  // The checkpoint is one epoch folder named by state.json.
  const ckpt = path.join(model, 'checkpoint');
  assert.deepEqual(readdirSync(ckpt).sort(), ['epoch-0001', 'state.json']);
  assert.equal(JSON.parse(readFileSync(path.join(ckpt, 'state.json'), 'utf8')).checkpoint, 'epoch-0001');
  // A checkpoint in the older flat layout (files in checkpoint/, no folder named) still resumes.
  for (const f of readdirSync(path.join(ckpt, 'epoch-0001'))) renameSync(path.join(ckpt, 'epoch-0001', f), path.join(ckpt, f));
  rmSync(path.join(ckpt, 'epoch-0001'), { recursive: true });
  const legacy = JSON.parse(readFileSync(path.join(ckpt, 'state.json'), 'utf8'));
  delete legacy.checkpoint;
  writeFileSync(path.join(ckpt, 'state.json'), JSON.stringify(legacy));
  const again = runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '2', '--batch', '4', '--quiet', '--resume']);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(readdirSync(ckpt).sort(), ['epoch-0002', 'state.json'], 'the flat files are gone once epoch 2 is saved');
  // Same seed, same weights, byte for byte, whatever the thread count and however often the run
  // was interrupted (dropout masks seeded per step, Adamax's moments restored).
  const epoch2 = (dir: string): Buffer => readFileSync(path.join(dir, 'checkpoint', 'epoch-0002', 'weights.bin'));
  assert.ok(epoch2(model).equals(epoch2(`${model}-twin`)), 'epoch-2 weights differ between the resumed run and the straight one');
  const history = readCsv(path.join(model, 'history.csv'));
  assert.deepEqual(history.map((h) => h.epoch), ['1', '2']);
  for (const h of history) assert.ok(Number.isFinite(Number(h.val_loss)) && Number(h.samples_per_sec) > 0 && Number(h.val_carrier_cents) >= 0);
  const metrics = readCsv(path.join(model, 'test-metrics.csv'));
  assert.equal(metrics.filter((m) => m.scope === 'parameter').length, 15);
  // The pooled MAE is the mean of the per-parameter MAEs (the paper's Table 5 pools all 15).
  const mean = metrics.filter((m) => m.scope === 'parameter').reduce((s, m) => s + Number(m.mae), 0) / 15;
  expectClose(Number(metrics.find((m) => m.scope === 'pooled')!.mae), mean, { rtol: 1e-4 }, 'pooled MAE');
  const html = readFileSync(path.join(model, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.equal((html.match(/<figure>/g) ?? []).length, 15, 'one scatter per parameter');
  assert.match(html, /Validation carrier error per epoch/);
  // The carrier's misses by kind: right + at a ratio + elsewhere = the 3 test notes.
  const kinds = html.match(/(\d+) of 3 test notes .*?Of the (\d+) misses,\s*<strong>(\d+) \([\d.]+ %\) lie within 10 cents.*?The other (\d+) misses/s);
  assert.ok(kinds, 'carrier errors by kind');
  const [right, misses, atRatio, other] = kinds.slice(1).map(Number);
  assert.deepEqual([right + misses, atRatio + other], [3, misses]);
  assert.match(html, /Carrier error per band of true carriers/);
  assert.match(html, /Setup: carrier regressed \(the paper\); linear targets \(the paper\); L2 0\.01, Adamax lr 0\.001, batch 4, seed 0; wasm/);
});

test('train-cnn: Ctrl-C keeps the best model and the checkpoint; --resume finishes; --log-targets regresses in log space', async () => {
  const out = path.join(tmp, 'model-interrupted');
  const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/train-cnn.ts', '--data', data, '--out', out, '--epochs', '50', '--batch', '4', '--log-targets'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    // One Ctrl-C once the first epoch has been saved (a second one quits at once, by design).
    if (!sent && /epoch 1: /.test(stderr)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted after \d+ epoch/);
  assert.ok(existsSync(path.join(out, 'model.json')) && existsSync(path.join(out, 'checkpoint', 'state.json')));
  const targets = JSON.parse(readFileSync(path.join(out, 'targets.json'), 'utf8'));
  assert.deepEqual(targets.transforms.slice(0, 6), ['log', 'log', 'log', 'log', 'log', 'log']);
  assert.equal(targets.transforms[6], 'linear');
  const resumed = runCli('train-cnn', ['--data', data, '--out', out, '--epochs', '2', '--batch', '4', '--log-targets', '--resume', '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(readCsv(path.join(out, 'history.csv')).length, 2);
});

test('train-cnn --carrier-head bins: a second output classifies the carrier, and predictions read it from there', async () => {
  const out = path.join(tmp, 'model-bins');
  const r = runCli('train-cnn', ['--data', data, '--out', out, '--epochs', '1', '--batch', '4', '--carrier-head', 'bins', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const targets = JSON.parse(readFileSync(path.join(out, 'targets.json'), 'utf8'));
  assert.equal(targets.carrierBins.count, DEFAULT_CARRIER_BINS.count);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', out, '--epochs', '2', '--batch', '4', '--resume']), /other options/);

  await initBackend({ backend: 'wasm', threads: 1 });
  const predictor = await loadCnn(out);
  assert.deepEqual(predictor.model.outputs.map((o) => o.shape), [[null, 15], [null, DEFAULT_CARRIER_BINS.count]]);
  const index = openDataset(data);
  const notes = await Promise.all([0, 1, 2].map((i) => loadAudio(index, i)));
  const tensors = tf.memory().numTensors;
  const params = predictParams(predictor, notes, 2);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaks');
  // The wiring: one note at a time, the bins output read directly (batch offsets, output order).
  for (let i = 0; i < notes.length; i++) {
    const x = new Float32Array(notes[i].length);
    prepareInput(notes[i], x, 0);
    const [z, bins] = tf.tidy(() => (predictor.model.predict(tf.tensor3d(x, [1, x.length, 1])) as tf.Tensor[]).map((t) => t.dataSync()));
    expectClose(params[i][0], decodeCarrierBins(DEFAULT_CARRIER_BINS, bins), { rtol: 1e-5 }, `note ${i} carrier`);
    expectClose(params[i][6], z[6] * targets.std[6] + targets.mean[6], { rtol: 1e-4, atol: 1e-5 }, `note ${i} beta_1`);
  }
  predictor.model.dispose();
});

test('train-cnn refuses bad input with one line', () => {
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', path.join(tmp, 'nope')]), /no such dataset folder/);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', model, '--batch', '8', '--resume']), /other options/);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', model]), /already holds a training run/);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--epochs', '0']), /--epochs must be a positive integer/);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', data, '--epochs', '1']), /--out .* is not empty and is not a train-cnn folder/);
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', path.join(tmp, 'no-run'), '--resume']), /no checkpoint to resume/);
  assert.ok(!existsSync(path.join(tmp, 'no-run')), 'a failed --resume created its --out');
  // Damaged checkpoints and other tools' folders: named, not a parser's or tfjs's message alone.
  const damaged = (name: string, damage: (ckpt: string) => void): string => {
    const dir = path.join(tmp, name);
    cpSync(model, dir, { recursive: true });
    damage(path.join(dir, 'checkpoint'));
    return dir;
  };
  const garbled = damaged('garbled', (c) => writeFileSync(path.join(c, 'state.json'), 'garbage{'));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', garbled, '--epochs', '3', '--batch', '4', '--resume']), /garbled\/checkpoint\/state\.json: corrupt checkpoint \(.*not valid JSON\)/);
  const truncated = damaged('truncated', (c) => {
    const epoch = readdirSync(c).find((f) => f.startsWith('epoch-')) as string;
    const w = path.join(c, epoch, 'weights.bin');
    writeFileSync(w, readFileSync(w).subarray(0, 64));
  });
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', truncated, '--epochs', '3', '--batch', '4', '--resume']), /truncated\/checkpoint\/epoch-\d+: corrupt checkpoint/);
  const foreign = damaged('foreign', (c) => writeFileSync(path.join(c, 'state.json'), JSON.stringify({ config: { steps: 5 }, stepsDone: 5, losses: [] })));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', data, '--out', foreign, '--epochs', '3', '--batch', '4', '--resume']), /not a train-cnn checkpoint/);

  const broken = path.join(tmp, 'broken');
  cpSync(data, broken, { recursive: true });
  const csv = path.join(broken, 'params.csv');
  const lines = readFileSync(csv, 'utf8').split('\n');
  lines[3] = lines[3].replace(/,([^,]*)$/, ',NaN');
  writeFileSync(csv, lines.join('\n'));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', broken]), /row 4 .*release_s is 'NaN', not a number/);
  // A valid number changed by hand is caught by params.csv's hash in the manifest.
  const edited = path.join(tmp, 'edited');
  cpSync(data, edited, { recursive: true });
  const editedCsv = path.join(edited, 'params.csv');
  const rows = readFileSync(editedCsv, 'utf8').split('\n');
  const cells = rows[2].split(',');
  cells[2] = String(Number(cells[2]) * 1.01);
  rows[2] = cells.join(',');
  writeFileSync(editedCsv, rows.join('\n'));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', edited]), /params\.csv: changed since gen-dataset wrote it/);

  const shortWav = path.join(tmp, 'short');
  cpSync(data, shortWav, { recursive: true });
  const wav = path.join(shortWav, 'audio', '00002.wav');
  // Cut off (the header still announces 64,000 samples), then a whole WAV of 16,000 samples.
  writeFileSync(wav, readFileSync(wav).subarray(0, 44 + 2 * 16000));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', shortWav, '--out', path.join(tmp, 'm-short'), '--epochs', '1', '--batch', '4']), /00002\.wav: truncated WAV file \(data chunk announces 128000 bytes, 32000 present\)/);
  writeFileSync(wav, encodeWavPcm16(new Float32Array(16000).fill(0.25), 16000));
  assertOneLineError('train-cnn', runCli('train-cnn', ['--data', shortWav, '--out', path.join(tmp, 'm-short'), '--epochs', '1', '--batch', '4']), /00002\.wav: .*expected 64000/);
});

test('eval-nsynth reports per family, and its baseline distances match the shared oracle', () => {
  const out = path.join(tmp, 'report');
  const r = runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', out, '--families', 'brass,flute,vocal', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /eval-nsynth: 14 notes evaluated, 0 skipped/);
  for (const f of ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html', 'brass.csv', 'brass.html', 'flute.html', 'vocal.html']) {
    assert.ok(existsSync(path.join(out, f)), `${f} missing`);
  }
  const notes = readCsv(path.join(out, 'notes.csv'));
  assert.equal(notes.length, 14);
  const oracle = readCsv(path.join(fixture, 'reference-distances.csv'));
  let checked = 0;
  for (const n of notes) {
    for (const base of ['sine440', 'pitched']) {
      const ref = oracle.find((o) => o.note_str === n.note_str && o.baseline === base)!;
      for (const m of ['fft', 'stft', 'logmel', 'logmel_normalized']) {
        expectClose(Number(n[`${base}_${m}`]), Number(ref[m]), { rtol: 1e-3 }, `${n.note_str} ${base} ${m}`);
        checked++;
      }
    }
    // The rendered patch is the snapped prediction: ratios in R, everything in range.
    for (let k = 1; k <= 5; k++) assert.ok([1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5, 6, 7, 8].some((x) => Math.abs(x - Number(n[`cnn_snap_ratio_${k}`])) < 1e-12));
    assert.ok(Number(n.cnn_logmel) > 0);
  }
  assert.equal(checked, 14 * 8);
  const summary = readCsv(path.join(out, 'summary.csv'));
  assert.ok(summary.some((s) => s.group === 'overall' && s.system === 'cnn'));
  assert.deepEqual([...new Set(summary.map((s) => s.group))].sort(), ['brass', 'flute', 'overall', 'vocal']);
});

test('eval-nsynth: bad notes are counted skips, bad datasets and models one-line errors', () => {
  const bad = path.join(tmp, 'nsynth-bad');
  mkdirSync(path.join(bad, 'audio'), { recursive: true });
  const examples = JSON.parse(readFileSync(path.join(fixture, 'examples.json'), 'utf8')) as Record<string, { instrument_family_str: string }>;
  const keep = Object.keys(examples).filter((k) => examples[k].instrument_family_str === 'reed').slice(0, 3);
  writeFileSync(path.join(bad, 'examples.json'), JSON.stringify(Object.fromEntries(keep.map((k) => [k, examples[k]]))));
  cpSync(path.join(fixture, 'audio', `${keep[0]}.wav`), path.join(bad, 'audio', `${keep[0]}.wav`));
  writeFileSync(path.join(bad, 'audio', `${keep[1]}.wav`), 'RIFF garbage');
  // keep[2] has no WAV at all.
  const out = path.join(tmp, 'report-bad');
  const r = runCli('eval-nsynth', ['--nsynth', bad, '--model', model, '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 notes evaluated, 2 skipped/);
  const skipped = readCsv(path.join(out, 'skipped.csv'));
  assert.deepEqual(skipped.map((s) => s.id).sort(), [keep[1], keep[2]].sort());

  const empty = path.join(tmp, 'no-examples');
  mkdirSync(empty);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', empty, '--model', model]), /examples\.json/);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--model', model]), /npm run fetch-nsynth/);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', path.join(tmp, 'no-model')]), /no such folder/);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--families', 'kazoo']), /unknown family 'kazoo'/);
  // The options' names, not the code's.
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--pitch-min', '80', '--pitch-max', '20']), /--pitch-min 80 is above --pitch-max 20$/);
  // A run that fails before it has a result leaves no report folder behind.
  const never = path.join(tmp, 'never-written');
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', empty, '--model', model, '--out', never]), /examples\.json/);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', never, '--families', 'flute', '--pitch-min', '127']), /no note of .* matches the filters/);
  assert.ok(!existsSync(never), 'an empty report folder was left behind');
  // On a copy of the notes: were the guard to fail, the report would land in the copy, not in ../shared.
  const notesCopy = path.join(tmp, 'nsynth-copy');
  cpSync(fixture, notesCopy, { recursive: true });
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', notesCopy, '--model', model, '--out', path.join(notesCopy, 'report')]), /is inside the NSynth folder/);
  // Also through a symbolic link to the NSynth folder, with an --out that does not exist yet.
  const notesLink = path.join(tmp, 'nsynth-link');
  symlinkSync(notesCopy, notesLink);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', notesLink, '--model', model, '--out', path.join(notesLink, 'report', 'deeper')]), /is inside the NSynth folder/);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', notesCopy, '--model', model, '--out', path.join(notesLink, 'report')]), /is inside the NSynth folder/);
  assert.deepEqual(listing(notesCopy), listing(fixture), 'a report was written inside the NSynth folder');
  // A link to nothing as --out: the rename would replace the link, not write where it points.
  const dangling = path.join(tmp, 'out-dangling');
  symlinkSync(path.join(tmp, 'out-gone'), dangling);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', dangling, '--limit', '1']), /--out .*out-dangling: .*out-dangling is a symbolic link to a missing target/);
  assert.ok(!existsSync(path.join(tmp, 'out-gone')) && lstatSync(dangling).isSymbolicLink());
  // An --out that cannot be made fails at start-up, not after the evaluation.
  const aFile = path.join(tmp, 'a-file');
  writeFileSync(aFile, 'x');
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', path.join(aFile, 'report')]), /a-file exists and is not a folder/);
  assert.ok(!existsSync(path.join(fixture, 'report')));

  const otherSpec = path.join(tmp, 'model-other-spec');
  cpSync(model, otherSpec, { recursive: true });
  const cfgPath = path.join(otherSpec, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.paramSpec[0].name = 'carrier_khz';
  writeFileSync(cfgPath, JSON.stringify(cfg));
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', otherSpec]), /parameter spec .* does not match/);
});

test('eval-nsynth --ddx7 puts the DDX7 resynthesis beside the CNN and the baselines', () => {
  const d7 = path.join(tmp, 'ddx7');
  const train = runCli('train-ddx7', ['--data', fixture, '--families', 'flute', '--patch', 'flute', '--steps', '2', '--out', d7, '--quiet']);
  assert.equal(train.status, 0, train.stderr);
  const out = path.join(tmp, 'report-ddx7');
  const r = runCli('eval-nsynth', ['--nsynth', fixture, '--families', 'flute', '--model', model, '--ddx7', d7, '--out', out, '--write-audio', '--pitch-carrier', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  // --write-audio keeps every resynthesis of every note: 4 s mono 16 kHz, not silent.
  for (const n of readCsv(path.join(out, 'notes.csv'))) {
    for (const system of ['cnn', 'cnn_pitch', 'ddx7']) {
      const wav = decodeWav(readFileSync(path.join(out, 'audio', `${n.note_str}.${system}.wav`)), { sampleRate: 16000, mono: true, frames: 64000 });
      assert.equal(wav.samples.length, 64000, `${n.note_str}.${system}.wav`);
      assert.ok(wav.samples.some((v) => Math.abs(v) > 1e-3), `${n.note_str}.${system}.wav is silent`);
    }
  }
  assert.match(r.stdout, /DDX7 improvement over sine-440 log-mel -?[\d.]+ %/);
  const notes = readCsv(path.join(out, 'notes.csv'));
  assert.equal(notes.length, 4);
  for (const n of notes) for (const m of ['fft', 'stft', 'logmel', 'logmel_normalized']) assert.ok(Number(n[`ddx7_${m}`]) > 0, `${n.note_str} ddx7_${m}`);
  // --pitch-carrier: the CNN's snapped patch with only the carrier moved to the metadata pitch.
  for (const n of notes) {
    const pitchHz = 440 * 2 ** ((Number(n.pitch) - 69) / 12);
    expectClose(Number(n.cnn_pitch_snap_carrier_hz), Math.min(6000, Math.max(20, pitchHz)), { rtol: 1e-9 }, `${n.note_str} carrier`);
    expectClose(Number(n.cnn_carrier_cents_from_pitch), 1200 * Math.log2(Number(n.cnn_snap_carrier_hz) / pitchHz), { atol: 1e-6 }, `${n.note_str} cents`);
    expectClose(Number(n.cnn_pitch_carrier_cents_from_pitch), 0, { atol: 1e-6 }, `${n.note_str} cnn_pitch cents`);
    for (const p of ['ratio_1', 'ratio_5', 'beta_3', 'attack_s', 'sustain', 'release_s']) assert.equal(n[`cnn_pitch_snap_${p}`], n[`cnn_snap_${p}`], `${n.note_str} ${p}`);
    assert.ok(Number(n.cnn_pitch_logmel) > 0);
  }
  assert.match(r.stdout, /CNN patch at the note's pitch: over sine-440 log-mel -?[\d.]+ %/);
  assert.match(r.stdout, /carrier by the CNN \(the paper\), vs the notes' pitch: median \|error\| \d+ cents/);
  const summary = readCsv(path.join(out, 'summary.csv'));
  assert.ok(summary.some((s) => s.group === 'flute' && s.system === 'ddx7'));
  assert.ok(summary.some((s) => s.group === 'overall' && s.system === 'cnn_pitch'));
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--ddx7', path.join(tmp, 'nope')]), /--ddx7: .*no such folder/);
});

test('eval-nsynth --refine: the searched patch is never further than the starts it was given', () => {
  const out = path.join(tmp, 'report-refine');
  const r = runCli('eval-nsynth', ['--nsynth', fixture, '--families', 'brass', '--model', model, '--out', out, '--refine', '30', '--pitch-carrier', '--write-audio', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /refined patch \(30 renders per note\): over sine-440 FFT -?[\d.]+ %.*over pitched sine .*log-mel -?[\d.]+ %/);
  const notes = readCsv(path.join(out, 'notes.csv'));
  assert.ok(notes.length > 0);
  const cost = (n: Record<string, string>, s: string): number => ['fft', 'stft', 'logmel'].reduce((t, m) => t + Number(n[`${s}_${m}`]) / Number(n[`pitched_${m}`]), 0) / 3;
  const evaluator = makeNoteEvaluator(JSON.parse(readFileSync(path.join(model, 'config.json'), 'utf8')).dataset.config);
  for (const n of notes) {
    // cnn and cnn_pitch are two of the search's starting points.
    assert.ok(cost(n, 'cnn_refined') <= Math.min(cost(n, 'cnn'), cost(n, 'cnn_pitch')) + 1e-12, `${n.note_str}: ${cost(n, 'cnn_refined')}`);
    for (let k = 1; k <= 5; k++) assert.ok([1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5, 6, 7, 8].some((x) => Math.abs(x - Number(n[`cnn_refined_snap_ratio_${k}`])) < 1e-12));
    assert.ok(existsSync(path.join(out, 'audio', `${n.note_str}.cnn_refined.wav`)));
    // Every starting point (refineStarts of the CNN's prediction, as written to notes.csv),
    // rendered and measured here: the search keeps the best of them or something better.
    const names = ['carrier_hz', 'ratio_1', 'ratio_2', 'ratio_3', 'ratio_4', 'ratio_5', 'beta_1', 'beta_2', 'beta_3', 'beta_4', 'beta_5', 'attack_s', 'decay_s', 'sustain', 'release_s'];
    const orig = decodeWav(readFileSync(path.join(fixture, 'audio', `${n.note_str}.wav`))).samples;
    const starts = refineStarts(names.map((name) => Number(n[`cnn_pred_${name}`])), Number(n.pitch));
    assert.equal(starts.length, 6);
    starts.forEach((start, i) => {
      const d = evaluator({ index: 0, pitch: Number(n.pitch), audio: orig, snapped: { cnn: start } }).distances;
      assert.ok(cost(n, 'cnn_refined') <= refineCost(d.cnn!, d.pitched!) + 1e-9, `${n.note_str}: refined ${cost(n, 'cnn_refined')} vs start ${i} ${refineCost(d.cnn!, d.pitched!)}`);
    });
  }
  assert.ok(readCsv(path.join(out, 'summary.csv')).some((s) => s.group === 'overall' && s.system === 'cnn_refined'));
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--refine', '-1']), /--refine must be a whole number/);
});

/** Files, hidden ones included, of a folder, sorted. */
const listing = (dir: string): string[] => readdirSync(dir).sort();

/** A copy of the test model without its checkpoint (what loadCnn reads), to damage. */
function modelCopy(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  for (const f of ['model.json', 'weights.bin', 'targets.json', 'config.json', 'split.json']) cpSync(path.join(model, f), path.join(dir, f));
  return dir;
}

test('eval-nsynth: a damaged model, carrier net or DDX7 model is a one-line error naming the file', async () => {
  const d7 = path.join(tmp, 'ddx7');
  assert.ok(existsSync(path.join(d7, 'ddx7.json')), 'the model of the --ddx7 test is missing');
  // A carrier net beside a copy of the model (1 epoch, 4 channels: only its files matter here).
  const withCarrier = modelCopy('model-carrier');
  const tc = runCli('train-carrier', ['--model', withCarrier, '--data', data, '--epochs', '1', '--batch', '4', '--channels', '4', '--threads', '1', '--quiet']);
  assert.equal(tc.status, 0, tc.stderr);
  const carrierBin = path.join(withCarrier, 'carrier', 'weights.bin');
  writeFileSync(carrierBin, readFileSync(carrierBin).subarray(0, 100));
  // The reviewer's case, as a user sees it: one line, the file named, "corrupt", the sizes.
  const r = runCli('eval-nsynth', ['--nsynth', fixture, '--model', withCarrier, '--out', path.join(tmp, 'never-carrier'), '--limit', '1']);
  assertOneLineError('eval-nsynth', r, /model-carrier\/carrier\/weights\.bin: corrupt \(100 bytes; the weights manifest in model\.json describes \d+\)/);
  assert.ok(!existsSync(path.join(tmp, 'never-carrier')));

  // The loaders themselves (every command goes through them), in this process.
  await initBackend({ backend: 'wasm', threads: 1 });
  const tensors = tf.memory().numTensors;
  const damagedModel = (name: string, file: string, damage: (p: string) => void): string => {
    const dir = modelCopy(name);
    damage(path.join(dir, file));
    return dir;
  };
  const truncate = (p: string): void => writeFileSync(p, readFileSync(p).subarray(0, 100));
  const cases: [string, string, (p: string) => void, RegExp][] = [
    ['m-weights', 'weights.bin', truncate, /m-weights\/weights\.bin: corrupt \(100 bytes; the weights manifest in model\.json describes \d+\)/],
    // Same size, other contents (one weight's bytes changed): only the digest in model.json can tell.
    ['m-weights-flip', 'weights.bin', (p) => {
      const b = readFileSync(p);
      b.writeFloatLE(b.readFloatLE(40) + 1, 40);
      writeFileSync(p, b);
    }, /m-weights-flip\/weights\.bin: corrupt \(its contents differ from the ones model\.json records \(SHA-256\)/],
    ['m-targets', 'targets.json', (p) => writeFileSync(p, '{"a":'), /m-targets\/targets\.json: corrupt \(.*JSON/],
    ['m-targets-names', 'targets.json', (p) => writeFileSync(p, '{"names": ["carrier_khz"]}'), /m-targets-names\/targets\.json: the model's parameters \(carrier_khz\)/],
    ['m-config', 'config.json', (p) => writeFileSync(p, '{'), /m-config\/config\.json: corrupt \(/],
    ['m-json', 'model.json', (p) => writeFileSync(p, '[1'), /m-json\/model\.json: corrupt \(/],
    ['m-topology', 'model.json', (p) => {
      const j = JSON.parse(readFileSync(p, 'utf8'));
      j.modelTopology.class_name = 'NoSuchModel';
      writeFileSync(p, JSON.stringify(j));
    }, /m-topology\/model\.json: corrupt \(.*NoSuchModel/],
  ];
  for (const [name, file, damage, pattern] of cases) await assert.rejects(loadCnn(damagedModel(name, file, damage)), pattern, name);
  assert.equal(tf.memory().numTensors, tensors, 'a failed load leaks no tensors');

  const damagedDdx7 = (name: string, file: string, damage: (p: string) => void): string => {
    const dir = path.join(tmp, name);
    cpSync(d7, dir, { recursive: true });
    damage(path.join(dir, file));
    return dir;
  };
  assert.throws(() => loadDdx7(damagedDdx7('d7-bin', 'weights.bin', truncate)), /d7-bin\/weights\.bin: corrupt \(100 bytes; the weights manifest in weights\.json describes \d+\)/);
  const flip = (p: string): void => {
    const b = readFileSync(p);
    b.writeFloatLE(b.readFloatLE(0) + 1, 0);
    writeFileSync(p, b);
  };
  assert.throws(() => loadDdx7(damagedDdx7('d7-flip', 'weights.bin', flip)), /d7-flip\/weights\.bin: corrupt \(its contents differ from the ones weights\.json records \(SHA-256\)/);
  assert.throws(() => loadDdx7(damagedDdx7('d7-json', 'weights.json', (p) => writeFileSync(p, '[{'))), /d7-json\/weights\.json: corrupt \(/);
  assert.throws(() => loadDdx7(damagedDdx7('d7-config', 'ddx7.json', (p) => writeFileSync(p, '{"format": "fmmatch-ddx7"}'))), /d7-config\/ddx7\.json: corrupt \(/);
  assert.equal(tf.memory().numTensors, tensors, 'a failed DDX7 load leaks no tensors');
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--ddx7', path.join(tmp, 'd7-bin'), '--limit', '1']), /--ddx7: .*d7-bin\/weights\.bin: corrupt/);
});

test('eval-nsynth --out: a previous report is replaced whole, any other non-empty folder or a file refused', () => {
  const out = path.join(tmp, 'report-again');
  const run = (limit: number): void => {
    const r = runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', out, '--limit', String(limit), '--quiet']);
    assert.equal(r.status, 0, r.stderr);
  };
  // What a report holds, from its own notes.csv: the fixed files and one CSV + page per family.
  const expected = (): string[] => {
    const families = [...new Set(readCsv(path.join(out, 'notes.csv')).map((n) => n.family))];
    return [REPORT_MARKER, 'index.html', 'notes.csv', 'skipped.csv', 'summary.csv', ...families.flatMap((f) => [`${f}.csv`, `${f}.html`])].sort();
  };
  run(6);
  const first = listing(out);
  assert.deepEqual(first, expected());
  run(2);
  const second = listing(out);
  assert.deepEqual(second, expected(), 'files of the first run survived');
  assert.ok(first.some((f) => !second.includes(f)), 'the second run should have fewer families (the check would see nothing)');
  assert.equal(readCsv(path.join(out, 'notes.csv')).length, 2);
  assert.deepEqual(listing(tmp).filter((f) => f.startsWith('.report-again')), [], 'no temporary folder left beside it');
  // The marker lists what the report wrote, which is what the folder holds.
  assert.deepEqual([...JSON.parse(readFileSync(path.join(out, REPORT_MARKER), 'utf8')).files, REPORT_MARKER].sort(), second);

  // A report that also holds what a report never writes (another run's report written inside it
  // with the default --out, a user's file) is refused, and nothing in it removed.
  for (const extra of ['inner-run', 'my-notes.txt']) {
    if (extra === 'inner-run') {
      cpSync(out, `${out}-copy`, { recursive: true });
      renameSync(`${out}-copy`, path.join(out, extra));
    }
    else writeFileSync(path.join(out, extra), 'keep me');
    const held = listing(out);
    assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', out, '--limit', '1']), new RegExp(`--out .*report-again: an eval-nsynth report, but it also holds ${extra.replace('.', '\\.')},`));
    assert.deepEqual(listing(out), held);
    if (extra === 'inner-run') assert.deepEqual(listing(path.join(out, extra)), second);
    rmSync(path.join(out, extra), { recursive: true });
  }

  // A report from before the marker (its four files) is recognised and replaced as well.
  const legacy = path.join(tmp, 'report-legacy');
  mkdirSync(legacy);
  for (const f of ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html', 'brass.html']) writeFileSync(path.join(legacy, f), 'old');
  const r = runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', legacy, '--limit', '1', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(path.join(legacy, 'brass.html')), 'a stale page of the old report survived');
  assert.notEqual(readFileSync(path.join(legacy, 'notes.csv'), 'utf8'), 'old');

  // A dataset (or any folder that is not a report) is refused, left as it was; so is a file.
  const before = listing(data);
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', data, '--limit', '1']), /--out .*ds: not empty and not an eval-nsynth report/);
  assert.deepEqual(listing(data), before);
  const aFile = path.join(tmp, 'out-file');
  writeFileSync(aFile, 'x');
  assertOneLineError('eval-nsynth', runCli('eval-nsynth', ['--nsynth', fixture, '--model', model, '--out', aFile, '--limit', '1']), /--out .*out-file: exists and is a file, not a folder/);
  assert.equal(readFileSync(aFile, 'utf8'), 'x');
});

test('eval-nsynth skips silent notes with a reason: none enters the means', () => {
  // By the threshold (one 16-bit step about the mean): all zero, a constant offset and a lone
  // ±1 LSB are silent; a lone 2 LSB is not.
  const lsb = (k: number, at = 1000): Float32Array => {
    const a = new Float32Array(64000);
    a[at] = k / 32768;
    return a;
  };
  assert.match(silentNoteReason(new Float32Array(64000)) ?? '', /^silent \(peak 0 /);
  assert.match(silentNoteReason(new Float32Array(64000).fill(0.25)) ?? '', /^silent \(peak 0 /);
  assert.match(silentNoteReason(lsb(1)) ?? '', /^silent \(peak 3\.05e-5 /);
  assert.match(silentNoteReason(lsb(-1)) ?? '', /^silent/);
  assert.equal(silentNoteReason(lsb(2)), null);

  const dir = path.join(tmp, 'nsynth-silent');
  mkdirSync(path.join(dir, 'audio'), { recursive: true });
  const examples = JSON.parse(readFileSync(path.join(fixture, 'examples.json'), 'utf8')) as Record<string, { instrument_family_str: string }>;
  const keep = Object.keys(examples).filter((k) => examples[k].instrument_family_str === 'brass').slice(0, 4);
  assert.equal(keep.length, 4);
  writeFileSync(path.join(dir, 'examples.json'), JSON.stringify(Object.fromEntries(keep.map((k) => [k, examples[k]]))));
  for (const k of keep.slice(0, 2)) cpSync(path.join(fixture, 'audio', `${k}.wav`), path.join(dir, 'audio', `${k}.wav`));
  // encodeWavPcm16 maps ±1 to ±32767: k / 32767 is exactly k steps.
  writeFileSync(path.join(dir, 'audio', `${keep[2]}.wav`), encodeWavPcm16(new Float32Array(64000), 16000));
  const oneLsb = new Float32Array(64000);
  oneLsb[5000] = 1 / 32767;
  writeFileSync(path.join(dir, 'audio', `${keep[3]}.wav`), encodeWavPcm16(oneLsb, 16000));

  const out = path.join(tmp, 'report-silent');
  const r = runCli('eval-nsynth', ['--nsynth', dir, '--model', model, '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /eval-nsynth: 2 notes evaluated, 2 skipped/);
  const skipped = readCsv(path.join(out, 'skipped.csv'));
  assert.deepEqual(skipped.map((s) => s.id).sort(), [keep[2], keep[3]].sort());
  for (const s of skipped) assert.match(s.reason, /^silent \(peak /, s.id);
  const notes = readCsv(path.join(out, 'notes.csv'));
  assert.deepEqual(notes.map((n) => n.note_str).sort(), keep.slice(0, 2).sort());
  // The family's mean is over the two real notes alone.
  const mean = notes.reduce((t, n) => t + Number(n.cnn_logmel), 0) / notes.length;
  const row = readCsv(path.join(out, 'summary.csv')).find((s) => s.group === 'brass' && s.system === 'cnn')!;
  assert.ok(row, 'no brass/cnn row in summary.csv');
  expectClose(Number(row.logmel_mean), mean, { rtol: 1e-9 }, 'summary logmel_mean');
});
