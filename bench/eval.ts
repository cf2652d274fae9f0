/**
 * Benchmark of `eval-nsynth` at the size of the NSynth test split: the 51 fixture notes repeated
 * (under distinct velocities, hence distinct note_str) to 4,096 entries in a jsonwav folder, WAVs
 * hard-linked, evaluated with a paper-architecture CNN and its spectral carrier net (weights from a
 * one-epoch training: speed does not depend on them). Target: ≤ 3 minutes on 2 cores.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNoteStr } from '../src/nsynth/meta.ts';
import type { NoteMeta } from '../src/nsynth/types.ts';
import { median } from './timing.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = path.resolve(REPO, '..', 'shared', 'fixtures', 'nsynth-gm');

/** Result of `benchEval`. */
export interface EvalBench {
  readonly notes: number;
  /** Wall seconds of the whole command (start-up, model load, evaluation, report), per run. */
  readonly runsSec: readonly number[];
  readonly medianSec: number;
  /** Seconds the evaluation itself took (the command's summary), per run. */
  readonly evalSec: readonly number[];
  readonly notesPerSec: number;
  readonly targetSec: 180;
}

/** Builds a jsonwav folder of `count` entries from the fixture. */
export function buildRepeatedFixture(dir: string, count: number): void {
  const examples = JSON.parse(readFileSync(path.join(FIXTURE, 'examples.json'), 'utf8')) as Record<string, NoteMeta>;
  const keys = Object.keys(examples).sort();
  mkdirSync(path.join(dir, 'audio'), { recursive: true });
  const out: Record<string, NoteMeta> = {};
  for (let i = 0; i < count; i++) {
    const src = examples[keys[i % keys.length]];
    const copy = Math.floor(i / keys.length);
    const velocity = 127 - copy;
    if (velocity < 0) throw new Error(`cannot make ${count} distinct notes from ${keys.length}`);
    const noteStr = makeNoteStr(src.instrument_str, src.pitch, velocity);
    out[noteStr] = { ...src, note: i, note_str: noteStr, velocity };
    const from = path.join(FIXTURE, 'audio', `${src.note_str}.wav`);
    const to = path.join(dir, 'audio', `${noteStr}.wav`);
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
  }
  writeFileSync(path.join(dir, 'examples.json'), JSON.stringify(out));
}

/** Runs the benchmark. */
export async function benchEval(count = 4096, runs = 3, log: (s: string) => void = () => undefined): Promise<EvalBench> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fmmatch-bench-eval-'));
  try {
    const nsynth = path.join(tmp, 'nsynth');
    buildRepeatedFixture(nsynth, count);
    const run = (script: string, args: string[]): string => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', `pipelines/${script}.ts`, ...args], { cwd: REPO, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr.trim().split('\n').pop()}`);
      return r.stdout;
    };
    run('gen-dataset', ['--count', '12', '--out', path.join(tmp, 'ds'), '--quiet']);
    run('train-cnn', ['--data', path.join(tmp, 'ds'), '--out', path.join(tmp, 'model'), '--epochs', '1', '--batch', '4', '--quiet']);
    // With its spectral carrier net, as a full-scale model has it: one more spectrum and net per note.
    run('train-carrier', ['--model', path.join(tmp, 'model'), '--epochs', '1', '--batch', '4', '--quiet']);
    const runsSec: number[] = [];
    const evalSec: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const stdout = run('eval-nsynth', ['--nsynth', nsynth, '--model', path.join(tmp, 'model'), '--out', path.join(tmp, `report${r}`), '--quiet']);
      runsSec.push((performance.now() - t0) / 1000);
      const m = /in ([\d.]+) s;/.exec(stdout);
      if (m) evalSec.push(Number(m[1]));
      log(`run ${r + 1}: ${runsSec[r].toFixed(1)} s wall (${evalSec[r] ?? '?'} s evaluating) for ${count} notes`);
    }
    const medianSec = median(runsSec);
    return { notes: count, runsSec, medianSec, evalSec, notesPerSec: count / medianSec, targetSec: 180 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
