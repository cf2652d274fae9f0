/**
 * DDX7 throughput: training steps/s (batch × excerpt as given, synthetic notes, no disk) and the
 * real-time factor of causal streaming rendering (compute time / audio time; DDX7 reports 0.637 on
 * a laptop CPU at 32 ms blocks; our target is < 0.3).
 *
 * CLI: `tsx bench/ddx7.ts [--backend wasm] [--threads N] [--batch 4] [--excerpt-sec 1] [--steps 3]
 *       [--block-frames 8] [--render-sec 4] [--channels 128] [--reverb-sec 1] [--patch flute]`
 */
import { timeRuns } from './timing.ts';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type BackendChoice, describeBackend, initBackend, type BackendInfo } from '../src/model/backend.ts';
import { controlInputs, createDdx7, DEFAULT_DDX7_CONFIG, disposeDdx7 } from '../src/model/ddx7.ts';
import { createDdx7Stream } from '../src/model/ddx7-predict.ts';
import { DDX7_HOP, DDX7_SAMPLE_RATE } from '../src/model/ddx7-synth.ts';
import { createDdx7Optimizer, ddx7TrainStep } from '../src/model/train-ddx7.ts';

/** Options of {@link benchDdx7}. */
export interface BenchDdx7Options {
  readonly backend?: BackendChoice;
  readonly threads?: number;
  /** Excerpts per training step. Default 4. */
  readonly batchSize?: number;
  /** Excerpt length, s. Default 1. */
  readonly excerptSec?: number;
  /** Timed training steps (after one warm-up). Default 3. */
  readonly steps?: number;
  /** Streaming block, frames (8 = 32 ms, the paper's latency). Default 8. */
  readonly blockFrames?: number;
  /** Audio rendered for the RTF, s. Default 4. */
  readonly renderSec?: number;
  /** Decoder channels. Default 128. */
  readonly channels?: number;
  /** Reverb length, s (0 = off). Default 1. */
  readonly reverbSec?: number;
  readonly patch?: string;
}

/** Result of {@link benchDdx7}. */
export interface BenchDdx7Result {
  readonly backend: BackendInfo;
  readonly options: Required<Omit<BenchDdx7Options, 'backend' | 'threads'>>;
  /** Training steps per second (1 / median step time). */
  readonly trainStepsPerSec: number;
  /** Streaming render time / audio duration. */
  readonly streamingRtf: number;
}

/** Measures training speed and streaming real-time factor. */
export async function benchDdx7(options: BenchDdx7Options = {}): Promise<BenchDdx7Result> {
  const backend = await initBackend({ backend: options.backend ?? 'auto', ...(options.threads !== undefined ? { threads: options.threads } : {}) });
  const o = {
    batchSize: options.batchSize ?? 4,
    excerptSec: options.excerptSec ?? 1,
    steps: options.steps ?? 3,
    blockFrames: options.blockFrames ?? 8,
    renderSec: options.renderSec ?? 4,
    channels: options.channels ?? 128,
    reverbSec: options.reverbSec ?? 1,
    patch: options.patch ?? 'flute',
  };
  const model = createDdx7({ ...DEFAULT_DDX7_CONFIG, patch: o.patch, channels: o.channels, reverbSec: o.reverbSec });
  const frames = Math.round((o.excerptSec * DDX7_SAMPLE_RATE) / DDX7_HOP);
  const f0 = new Float32Array(o.batchSize * frames);
  const ld = new Float32Array(o.batchSize * frames);
  const target = new Float32Array(o.batchSize * frames * DDX7_HOP);
  for (let b = 0; b < o.batchSize; b++) {
    const hz = 220 * Math.pow(2, b / 7);
    for (let k = 0; k < frames; k++) {
      f0[b * frames + k] = hz;
      ld[b * frames + k] = -20 - (20 * k) / frames;
    }
    for (let n = 0; n < frames * DDX7_HOP; n++) target[b * frames * DDX7_HOP + n] = 0.3 * Math.sin((2 * Math.PI * hz * n) / DDX7_SAMPLE_RATE);
  }
  const inputs = controlInputs(f0, ld, model.config);
  const opt = createDdx7Optimizer(3e-4);
  ddx7TrainStep(model, opt, f0, inputs, target, o.batchSize, 2); // warm-up
  // Median step time: the machines are shared and single steps are noisy.
  const stepMs = timeRuns(() => ddx7TrainStep(model, opt, f0, inputs, target, o.batchSize, 2), o.steps, 0).medianMs;
  const trainStepsPerSec = 1000 / stepMs;
  opt.dispose();

  const total = Math.round((o.renderSec * DDX7_SAMPLE_RATE) / DDX7_HOP);
  const rf0 = new Float32Array(total).fill(330);
  const rld = Float32Array.from({ length: total }, (_, k) => -20 - (30 * k) / total);
  const warm = createDdx7Stream(model);
  warm.process(rf0.subarray(0, o.blockFrames), rld.subarray(0, o.blockFrames));
  warm.dispose();
  // Real-time factor of a whole streamed render, median of 5 renders.
  const renderMs = timeRuns(() => {
    const stream = createDdx7Stream(model);
    for (let k = 0; k < total; k += o.blockFrames) stream.process(rf0.subarray(k, k + o.blockFrames), rld.subarray(k, k + o.blockFrames));
    stream.dispose();
  }, 5, 0).medianMs;
  const streamingRtf = renderMs / 1000 / ((total * DDX7_HOP) / DDX7_SAMPLE_RATE);
  disposeDdx7(model);
  return { backend, options: o, trainStepsPerSec, streamingRtf };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { values: v } = parseArgs({
    options: {
      backend: { type: 'string' }, threads: { type: 'string' }, batch: { type: 'string' }, 'excerpt-sec': { type: 'string' }, steps: { type: 'string' },
      'block-frames': { type: 'string' }, 'render-sec': { type: 'string' }, channels: { type: 'string' }, 'reverb-sec': { type: 'string' }, patch: { type: 'string' },
    },
  });
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const opts: BenchDdx7Options = Object.fromEntries(Object.entries({
    backend: v.backend as BackendChoice | undefined, threads: num(v.threads), batchSize: num(v.batch), excerptSec: num(v['excerpt-sec']), steps: num(v.steps),
    blockFrames: num(v['block-frames']), renderSec: num(v['render-sec']), channels: num(v.channels), reverbSec: num(v['reverb-sec']), patch: v.patch,
  }).filter(([, x]) => x !== undefined));
  const r = await benchDdx7(opts);
  process.stdout.write(`ddx7 bench on ${describeBackend(r.backend)}: ${r.trainStepsPerSec.toFixed(3)} training steps/s (batch ${r.options.batchSize} × ${r.options.excerptSec} s, ${r.options.channels} channels, reverb ${r.options.reverbSec} s); streaming RTF ${r.streamingRtf.toFixed(3)} (blocks of ${r.options.blockFrames} frames = ${(r.options.blockFrames * 4).toFixed(0)} ms, ${r.options.renderSec} s rendered)\n`);
}
