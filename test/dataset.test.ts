/**
 * The dataset generator: byte-identical output across worker counts, shards and resumes (also
 * after a SIGKILL mid-run), --resume replacing damaged files with their patches' renders, params.csv
 * that re-renders to the same audio, and a one-line error with nothing written for each bad request.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeDatasetConfig } from '../src/dataset/config.ts';
import { generateDataset, type GenerateOptions } from '../src/dataset/generate.ts';
import { parseShard, wavBytes } from '../src/dataset/layout.ts';
import { renderOptionsOf } from '../src/dataset/patch-file.ts';
import { decodeWav, encodeWavPcm16 } from '../src/dsp/wav.ts';
import { getAlgorithm } from '../src/synth/algorithms.ts';
import { renderNote } from '../src/synth/note.ts';
import { PARAM_NAMES, vectorToPatch } from '../src/synth/params.ts';
import { assertOneLineError as assertCliError, type CliResult, REPO_ROOT, runCli, tempDir } from './helpers.ts';

const tmpRoot = tempDir('fmmatch-dataset-test-');
// The read-only folder of the unwritable-output test is made writable again so that tempDir's
// removal can take it.
after(() => {
  const locked = path.join(tmpRoot, 'locked');
  if (existsSync(locked)) chmodSync(locked, 0o700);
});
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
  assert.ok(resumed.rendered >= 1 && resumed.rendered + resumed.reused + resumed.repaired.length === 48, `rendered ${resumed.rendered}, reused ${resumed.reused}`);
  assert.ok(resumed.repaired.includes('audio/00046.wav'), `the short file is not reported as repaired: ${resumed.repaired.join(', ')}`);
  assertSameFiles(expected, snapshot(killed), 'killed and resumed');
});

function cli(args: string[]): CliResult {
  return runCli('gen-dataset', ['--quiet', ...args]);
}

/** Writes a snapshot back out as a folder (a copy of a dataset to damage). */
function restore(files: Map<string, Buffer>, dir: string): void {
  for (const [rel, bytes] of files) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), bytes);
  }
}

/** Damages a copy of the reference dataset four ways; returns the files a resume must repair. */
function damage(dir: string): string[] {
  restore(reference, dir);
  // A damaged body: 100 zero bytes in the samples, size unchanged.
  const body = path.join(dir, 'audio/00003.wav');
  const bytes = readFileSync(body);
  bytes.fill(0, 1000, 1100);
  writeFileSync(body, bytes);
  // A header claiming 44.1 kHz (sample rate and byte rate), size and samples unchanged.
  const header = path.join(dir, 'audio/00005.wav');
  const h = readFileSync(header);
  assert.equal(h.readUInt32LE(24), 16000, 'the fixture WAV is not a canonical 44-byte header at 16 kHz');
  h.writeUInt32LE(44100, 24);
  h.writeUInt32LE(88200, 28);
  writeFileSync(header, h);
  // A truncated file, as an interrupted copy leaves.
  truncateSync(path.join(dir, 'audio/00007.wav'), 5000);
  // A missing file: an ordinary resume renders it, and it is not "damaged".
  unlinkSync(path.join(dir, 'audio/00009.wav'));
  // The manifest of the copy still claims completeness and the reference's hash: a resume must
  // not trust it.
  return ['audio/00003.wav', 'audio/00005.wav', 'audio/00007.wav'];
}

test('--resume replaces damaged files with their renders: same bytes and content hash as a fresh dataset', async () => {
  const refHash = JSON.parse(reference.get('manifest.json')!.toString('utf8')).contentHash as string;
  for (const workers of [0, 2]) {
    const dir = path.join(tmpRoot, `damaged-w${workers}`);
    const expected = damage(dir);
    const s = await generateDataset(config, opts(dir, { resume: true, workers }));
    assert.equal(s.complete, true);
    assert.deepEqual(s.repaired, expected, `workers ${workers}`);
    assert.equal(s.rendered, 1, `workers ${workers}: the missing file`);
    assert.equal(s.reused, 12 - 1 - expected.length);
    assert.equal(s.contentHash, refHash, `workers ${workers}`);
    assertSameFiles(reference, snapshot(dir), `damaged and resumed, workers ${workers}`);
    // A second resume finds nothing to repair.
    const again = await generateDataset(config, opts(dir, { resume: true, workers }));
    assert.deepEqual([again.rendered, again.reused, again.repaired.length], [0, 12, 0]);
  }

  // The command names the repaired files on its summary line.
  const dir = path.join(tmpRoot, 'damaged-cli');
  damage(dir);
  const r = cli(['--count', '12', '--seed', '3', '--out', dir, '--resume', '--workers', '0']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 rendered, 8 verified, re-rendered 3 damaged files: audio\/00003\.wav, audio\/00005\.wav, audio\/00007\.wav in /);
  assert.ok(r.stdout.includes(`[complete, ${refHash}]`), r.stdout);
  assertSameFiles(reference, snapshot(dir), 'damaged and resumed by the command');

  // Something that is not a file under a patch's name is refused in one line, not overwritten.
  const odd = path.join(tmpRoot, 'damaged-dir');
  restore(reference, odd);
  unlinkSync(path.join(odd, 'audio/00002.wav'));
  mkdirSync(path.join(odd, 'audio/00002.wav'));
  assertOneLineError(cli(['--count', '12', '--seed', '3', '--out', odd, '--resume']), /00002\.wav is not a file/);
});

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
