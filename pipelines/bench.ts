/**
 * `npm run bench`: speed figures, printed and written to `bench/results/bench.json`.
 * Benchmarks, not timed tests: medians of repeated runs on whatever machine runs them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { runCommand, UserError } from '../src/cli/run.ts';
import { benchDataset } from '../bench/dataset.ts';
import { benchDdx7 } from '../bench/ddx7.ts';
import { benchRefine } from '../bench/refine.ts';
import { benchDistances } from '../bench/distances.ts';
import { benchEval } from '../bench/eval.ts';
import { benchRender } from '../bench/render.ts';
import { benchResample } from '../bench/resample.ts';
import { benchTrainBackend } from '../bench/train-backend.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type Log = (line: string) => void;

/** A benchmark section: a name, what it measures, and how (quick: smaller sizes for a smoke run). */
interface Section {
  readonly describe: string;
  readonly run: (quick: boolean, log: Log) => Promise<unknown>;
}

const SECTIONS: Record<string, Section> = {
  dataset: {
    describe: 'gen-dataset: render alone and the whole command, 1 worker and all cores (5,000 patches)',
    run: (quick, log) => benchDataset(quick ? 300 : 5000, 5, log),
  },
  render: {
    describe: 'one 4 s paper patch at 48 kHz: WebAssembly SIMD operator kernel vs the JS fallback',
    run: async (quick, log) => {
      const r = benchRender(quick ? 21 : 41, 10);
      log(`render: ${JSON.stringify(r)}`);
      return r;
    },
  },
  resample: {
    describe: '48 → 16 kHz decimator, ms per 4 s note',
    run: async (quick, log) => {
      const r = benchResample(quick ? 11 : 41);
      log(`decimate3: ${r.msPerCall.toFixed(2)} ms per call (${r.taps} taps)`);
      return r;
    },
  },
  train: {
    describe: 'paper CNN (input [64000, 1], batch 32, Adamax): training and inference samples/s per backend present',
    run: (quick, log) => benchTrainBackend({ steps: quick ? 2 : 9, warmup: quick ? 1 : 2, profile: !quick, outFile: null, log }),
  },
  ddx7: {
    describe: 'DDX7: training steps/s (batch 4 × 1 s excerpts, 128 channels, 1 s reverb) and the real-time factor of streaming rendering (32 ms blocks)',
    run: async (quick, log) => {
      const r = await benchDdx7({ steps: quick ? 2 : 5 });
      log(`ddx7: ${r.trainStepsPerSec.toFixed(3)} training steps/s on ${r.backend.name} (${r.backend.threads} threads); streaming real-time factor ${r.streamingRtf.toFixed(3)} (DDX7 paper: 0.637; target < 0.3)`);
      return r;
    },
  },
  eval: {
    describe: 'eval-nsynth on 4,096 notes (the fixture repeated to the NSynth test split size); target ≤ 180 s',
    run: (quick, log) => benchEval(quick ? 256 : 4096, quick ? 1 : 3, log),
  },
  refine: {
    describe: 'eval-nsynth --refine: ms per search step (render + 3 distances) on one core, and s per note at 400 renders',
    run: async (quick, log) => {
      const r = benchRefine(quick ? 2 : 5, quick ? 30 : 100);
      log(`refine: ${r.msPerEvaluation.toFixed(2)} ms per search step (render ${r.renderMs.toFixed(2)} ms), ${r.secPerNoteAt400.toFixed(2)} s per note at 400 renders on one core`);
      return r;
    },
  },
  distances: {
    describe: 'FFT / STFT / log-mel distances of one note against 3 candidates',
    run: async (quick, log) => {
      const r = benchDistances(quick ? 5 : 15, 3);
      log(`distances: ${JSON.stringify(r)}`);
      return r;
    },
  },
};

export async function benchMain(argv: readonly string[]): Promise<number> {
  const args = await parseArgs(argv, 'npm run bench --', `$0 [options]\n\nMeasure speed; prints figures and writes them to bench/results/bench.json.\nSections: ${Object.entries(SECTIONS).map(([k, s]) => `\n  ${k}: ${s.describe}`).join('')}`, (y) =>
    y.options({
      only: { type: 'string', describe: 'comma-separated sections to run [default: all]' },
      quick: { type: 'boolean', default: false, describe: 'smaller sizes (a smoke run; figures not for quoting)' },
      out: { type: 'string', default: path.join('bench', 'results', 'bench.json'), describe: 'where to write the JSON figures' },
    }),
  );
  if (args === null) return 0;
  const names = args.only ? args.only.split(',').map((s) => s.trim()) : Object.keys(SECTIONS);
  for (const n of names) if (!SECTIONS[n]) throw new UserError(`unknown section '${n}' (choose from ${Object.keys(SECTIONS).join(', ')})`);
  const results: Record<string, unknown> = {};
  for (const n of names) {
    const log: Log = (line) => process.stdout.write(`[${n}] ${line}\n`);
    log(SECTIONS[n].describe);
    const t0 = performance.now();
    results[n] = await SECTIONS[n].run(args.quick, log);
    log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const out = path.resolve(REPO, args.out);
  mkdirSync(path.dirname(out), { recursive: true });
  const record = {
    date: new Date().toISOString(),
    quick: args.quick,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '?', memGb: Math.round(os.totalmem() / 2 ** 30), node: process.versions.node },
    results,
  };
  writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`bench: ${names.length} section(s) → ${path.relative(process.cwd(), out)}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('bench', () => benchMain(hideBin(process.argv)));
}
