/**
 * The dataset generator: byte-identical output across worker counts, shards and resumes (also
 * after a SIGKILL mid-run), params.csv that re-renders to the same audio, and a one-line error
 * with nothing written for each bad request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDatasetConfig } from '../src/dataset/config.ts';
import { generateDataset, type GenerateOptions } from '../src/dataset/generate.ts';
import { parseShard, wavBytes } from '../src/dataset/layout.ts';
import { renderOptionsOf } from '../src/dataset/patch-file.ts';
import { decodeWav, encodeWavPcm16 } from '../src/dsp/wav.ts';
import { getAlgorithm } from '../src/synth/algorithms.ts';
import { renderNote } from '../src/synth/note.ts';
import { PARAM_NAMES, vectorToPatch } from '../src/synth/params.ts';
import { assertOneLineError as assertCliError, type CliResult, REPO_ROOT, runCli } from './helpers.ts';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'fmmatch-dataset-test-'));
const config = makeDatasetConfig({ count: 12, seed: 3 });

function opts(dir: string, extra: Partial<GenerateOptions> = {}): GenerateOptions {
  return { dir, workers: 0, shard: null, resume: false, force: false, ...extra };
}

/** Every file of a dataset folder, path → bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function assertSameFiles(a: Map<string, Buffer>, b: Map<string, Buffer>, what: string): void {
  assert.deepEqual([...b.keys()], [...a.keys()], `${what}: different file lists`);
  for (const [k, v] of a) assert.ok(v.equals(b.get(k) as Buffer), `${what}: ${k} differs`);
}

let reference: Map<string, Buffer>;
const refDir = path.join(tmpRoot, 'ref');

test('a dataset has the documented layout, and params.csv re-renders to the same audio', async () => {
  const summary = await generateDataset(config, opts(refDir));
  assert.equal(summary.complete, true);
  assert.equal(summary.rendered, 12);
  reference = snapshot(refDir);
  assert.equal([...reference.keys()].filter((k) => k.startsWith('audio/')).length, 12);
  const manifest = JSON.parse(reference.get('manifest.json')!.toString('utf8'));
  assert.equal(manifest.complete, true);
  assert.match(manifest.contentHash, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(manifest.config, config);
  assert.equal(manifest.counts.patches, 12);
  assert.equal(typeof manifest.counts.aboveNyquist, 'number');
  assert.equal(manifest.params.spec.length, 15);

  const lines = reference.get('params.csv')!.toString('utf8').trim().split('\n');
  assert.deepEqual(lines[0].split(','), ['id', 'file', ...PARAM_NAMES]);
  assert.equal(lines.length, 13);
  const alg = getAlgorithm(config.algorithm);
  for (const row of [lines[1], lines[7]]) {
    const cells = row.split(',');
    const file = cells[1];
    const patch = vectorToPatch(cells.slice(2).map(Number));
    const bytes = encodeWavPcm16(renderNote(patch, alg, renderOptionsOf(config)), config.sampleRate, config.outputGain);
    assert.ok(Buffer.from(bytes).equals(reference.get(file)!), `${file} is not the render of its params.csv row`);
    const wav = decodeWav(reference.get(file)!, { sampleRate: 16000, mono: true, frames: 64000 });
    let peak = 0;
    for (const v of wav.samples) peak = Math.max(peak, Math.abs(v));
    assert.ok(peak > 0.05 && peak < 1, `${file}: implausible peak ${peak}`);
  }
});

test('same bytes with 2 workers, and with three shards completed by a resume', async () => {
  const twoWorkers = path.join(tmpRoot, 'w2');
  await generateDataset(config, opts(twoWorkers, { workers: 2 }));
  assertSameFiles(reference, snapshot(twoWorkers), '2 workers');

  const sharded = path.join(tmpRoot, 'shards');
  const s0 = await generateDataset(config, opts(sharded, { shard: parseShard('0/3'), workers: 2 }));
  assert.equal(s0.complete, false);
  assert.equal(s0.rendered, 4);
  const partial = JSON.parse(readFileSync(path.join(sharded, 'manifest.json'), 'utf8'));
  assert.equal(partial.complete, false);
  assert.equal(partial.contentHash, null);
  await generateDataset(config, opts(sharded, { shard: parseShard('2/3'), resume: true }));
  const last = await generateDataset(config, opts(sharded, { shard: parseShard('1/3'), resume: true }));
  assert.equal(last.complete, true);
  assertSameFiles(reference, snapshot(sharded), 'sharded');
});

test('a run killed at any moment completes with --resume to the same bytes', async (t) => {
  const big = makeDatasetConfig({ count: 48, seed: 3 });
  const whole = path.join(tmpRoot, 'big-whole');
  await generateDataset(big, opts(whole, { workers: 2 }));
  const expected = snapshot(whole);

  const killed = path.join(tmpRoot, 'big-killed');
  const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/gen-dataset.ts', '--count', '48', '--seed', '3', '--out', killed, '--workers', '2', '--quiet'], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  // Kill it once some patches are on disk (or at exit, if the machine is fast).
  const audio = path.join(killed, 'audio');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (existsSync(audio) && readdirSync(audio).filter((f) => f.endsWith('.wav')).length >= 6) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  const written = readdirSync(audio).filter((f) => f.endsWith('.wav'));
  t.diagnostic(`killed with ${written.length} of 48 patches written`);
  // Whatever was interrupted, no .wav is partial: files appear whole, by rename.
  for (const f of written) assert.equal(statSync(path.join(audio, f)).size, wavBytes(big), `${f} is truncated`);
  // Simulate the worst leftovers too: a stray temporary file and a damaged (short) WAV.
  writeFileSync(path.join(audio, '00047.wav.999.tmp'), 'partial');
  writeFileSync(path.join(audio, '00046.wav'), 'short');

  const resumed = await generateDataset(big, opts(killed, { resume: true, workers: 2 }));
  assert.equal(resumed.complete, true);
  assert.ok(resumed.rendered >= 1 && resumed.rendered + resumed.reused === 48, `rendered ${resumed.rendered}, reused ${resumed.reused}`);
  assertSameFiles(expected, snapshot(killed), 'killed and resumed');
});

function cli(args: string[]): CliResult {
  return runCli('gen-dataset', ['--quiet', ...args]);
}

function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assertCliError('gen-dataset', r, pattern);
}

test('bad requests fail with one line, a non-zero exit code, and nothing written', () => {
  const cases: [string[], RegExp][] = [
    [['--count', '0'], /--count must be a positive integer/],
    [['--count', '-5'], /--count must be a positive integer/],
    [['--count', 'many'], /--count must be a number, got 'many'/],
    [['--algorithm', 'dx7-33'], /unknown algorithm 'dx7-33'/],
    [['--shard', '3/3'], /--shard 3\/3/],
    [['--shard', 'half'], /--shard must look like i\/N/],
    [['--feedback', '3'], /has no feedback loop/],
    [['--nyquist', 'fold'], /nyquist/i],
    [['--bogus'], /Unknown argument/i],
  ];
  for (const [args, pattern] of cases) {
    const out = path.join(tmpRoot, `bad-${args.join('_').replace(/[^a-z0-9_-]/gi, '')}`);
    const r = cli([...args, '--out', out]);
    assertOneLineError(r, pattern);
    assert.equal(existsSync(out), false, `${args.join(' ')} wrote ${out}`);
  }
});

test('an unwritable --out and a folder made with another config are refused', () => {
  const blocker = path.join(tmpRoot, 'a-file');
  writeFileSync(blocker, 'not a folder');
  assertOneLineError(cli(['--count', '2', '--out', path.join(blocker, 'ds')]), /not writable/);

  if (process.getuid?.() !== 0) {
    const locked = path.join(tmpRoot, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    assertOneLineError(cli(['--count', '2', '--out', path.join(locked, 'ds')]), /not writable/);
  }

  const before = snapshot(refDir);
  assertOneLineError(cli(['--count', '12', '--seed', '4', '--out', refDir]), /another config \(seed 3 vs 4\)/);
  assertOneLineError(cli(['--count', '12', '--seed', '3', '--out', refDir]), /already holds this dataset/);
  assertSameFiles(before, snapshot(refDir), 'refused runs');

  const replaced = cli(['--count', '2', '--seed', '4', '--out', refDir, '--force', '--workers', '0']);
  assert.equal(replaced.status, 0, replaced.stderr);
  assert.match(replaced.stdout, /2 rendered/);
  assert.equal(readdirSync(path.join(refDir, 'audio')).length, 2);
});

test('--help describes every option and exits 0', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/gen-dataset.ts', '--help'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const opt of ['--count', '--seed', '--algorithm', '--out', '--workers', '--shard', '--resume', '--force', '--nyquist', '--feedback']) {
    assert.ok(r.stdout.includes(opt), `--help does not mention ${opt}`);
  }
});
