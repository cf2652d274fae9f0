/**
 * Benchmark of dataset generation (issue: gen-dataset speed): patches/s and × real time for
 * rendering alone (voice + decimation, nothing written) and for the whole `gen-dataset` command
 * (render, decimate, encode, write, hash), with 1 worker and with all cores. Medians of ≥ 5 runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATASET_CONFIG, makeDatasetConfig } from '../src/dataset/config.ts';
import { renderOptionsOf, samplerOptionsOf } from '../src/dataset/patch-file.ts';
import { defaultWorkerCount, runPool } from '../src/parallel/pool.ts';
import { getAlgorithm } from '../src/synth/algorithms.ts';
import { NoteScratch, renderNote } from '../src/synth/note.ts';
import { RenderScratch, renderVoice } from '../src/synth/render.ts';
import { samplePatch } from '../src/synth/sampler.ts';
import { median, timeRuns } from './timing.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** One measured configuration. */
export interface ThroughputFigure {
  readonly what: string;
  readonly workers: number;
  readonly patches: number;
  /** Median over runs. */
  readonly seconds: number;
  readonly patchesPerSec: number;
  /** Audio seconds produced per wall second (4 s per patch). */
  readonly realTimeFactor: number;
  readonly runs: number;
  readonly peakRssMb?: number;
}

/** Result of `benchDataset`. */
export interface DatasetBench {
  readonly cores: number;
  /** ms per patch on one thread: 48 kHz voice render only, and voice + decimation. */
  readonly msPerVoice: number;
  readonly msPerNote: number;
  readonly figures: readonly ThroughputFigure[];
  /** Peak RSS of the whole command (all cores) by patch count, MB. */
  readonly peakRssMb: Record<number, number>;
}

function figure(what: string, workers: number, patches: number, secs: number[], extra: Partial<ThroughputFigure> = {}): ThroughputFigure {
  const seconds = median(secs);
  return {
    what,
    workers,
    patches,
    seconds,
    patchesPerSec: patches / seconds,
    realTimeFactor: (patches * DEFAULT_DATASET_CONFIG.durationSec) / seconds,
    runs: secs.length,
    ...extra,
  };
}

/**
 * Runs the dataset benchmark.
 *
 * @param count patches per whole-command run (5,000 is the paper's dataset).
 * @param runs runs per configuration (≥ 5 for a median worth quoting).
 */
export async function benchDataset(count = 5000, runs = 5, log: (s: string) => void = () => undefined): Promise<DatasetBench> {
  const config = makeDatasetConfig({ count });
  const alg = getAlgorithm(config.algorithm);
  const ropts = renderOptionsOf(config);
  const sampler = samplerOptionsOf(config);
  const patches = Array.from({ length: 64 }, (_, i) => samplePatch(i, sampler).patch);
  const scratch = new NoteScratch(ropts);
  const rscratch = new RenderScratch(scratch.voice.length);
  let k = 0;
  const voice = timeRuns(() => renderVoice(patches[k++ % 64], alg, ropts, scratch.voice, rscratch), 40, 10);
  const note = timeRuns(() => renderNote(patches[k++ % 64], alg, ropts, scratch), 40, 10);
  log(`one thread: voice ${voice.medianMs.toFixed(2)} ms, voice + decimation ${note.medianMs.toFixed(2)} ms per patch`);

  const cores = defaultWorkerCount();
  const figures: ThroughputFigure[] = [];
  const renderCount = count;
  for (const workers of [1, cores]) {
    const secs: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await runPool<number, number>(Array.from({ length: renderCount }, (_, i) => i), {
        moduleUrl: new URL('./note-worker.ts', import.meta.url),
        workerData: config,
        workers,
        chunkSize: 8,
        onResult: () => undefined,
      });
      secs.push((performance.now() - t0) / 1000);
    }
    const f = figure('render (voice + decimation, no I/O, incl. worker start-up)', workers, renderCount, secs);
    log(`render, ${workers} worker(s): ${f.patchesPerSec.toFixed(0)} patches/s, ${f.realTimeFactor.toFixed(0)}× real time`);
    figures.push(f);
  }
  for (const workers of [1, cores]) {
    const secs: number[] = [];
    const inner: number[] = [];
    const rss: number[] = [];
    for (let r = 0; r < runs; r++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fmmatch-bench-'));
      const t0 = performance.now();
      const res = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/gen-dataset.ts', '--count', String(count), '--workers', String(workers), '--out', path.join(dir, 'ds'), '--quiet'], {
        cwd: REPO,
        encoding: 'utf8',
      });
      secs.push((performance.now() - t0) / 1000);
      rmSync(dir, { recursive: true, force: true });
      if (res.status !== 0) throw new Error(`gen-dataset failed: ${res.stderr}`);
      const m = /in ([\d.]+) s/.exec(res.stdout);
      if (m) inner.push(Number(m[1]));
      const mem = /peak memory (\d+) MB/.exec(res.stdout);
      if (mem) rss.push(Number(mem[1]));
    }
    const f = figure('gen-dataset command (wall, incl. Node start-up)', workers, count, secs, { peakRssMb: Math.max(...rss) });
    const g = figure('gen-dataset generation (as its summary reports)', workers, count, inner);
    log(`gen-dataset ${count}, ${workers} worker(s): ${f.seconds.toFixed(1)} s wall (${f.realTimeFactor.toFixed(0)}× real time), ${g.seconds.toFixed(1)} s inside; peak ${f.peakRssMb} MB`);
    figures.push(f, g);
  }
  // Memory must not grow with --count: peak RSS of a tenth-size run beside the full one.
  const small = Math.max(1, Math.round(count / 10));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmmatch-bench-'));
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/gen-dataset.ts', '--count', String(small), '--workers', String(cores), '--out', path.join(dir, 'ds'), '--quiet'], { cwd: REPO, encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  const smallRss = Number(/peak memory (\d+) MB/.exec(res.stdout)?.[1] ?? NaN);
  const fullRss = figures.find((f) => f.peakRssMb !== undefined && f.workers === cores)?.peakRssMb ?? NaN;
  log(`peak memory: ${small} patches ${smallRss} MB, ${count} patches ${fullRss} MB`);
  return { cores, msPerVoice: voice.medianMs, msPerNote: note.medianMs, figures, peakRssMb: { [small]: smallRss, [count]: fullRss } };
}
