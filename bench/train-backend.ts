/**
 * Training and inference throughput of the paper's CNN (input [64000, 1], batch 32, Adamax, MSE)
 * on each tfjs backend present: median of ≥ 5 timed steps after warm-up.
 *
 * CLI: `tsx bench/train-backend.ts [--backends wasm,cpu] [--threads N] [--steps 5] [--warmup 2]
 *       [--batch 32] [--input-length 64000] [--profile] [--out bench/results/train-backend.json]`
 *
 * Reference on the same kind of 2-core machine: PyTorch 1.13 CPU trains this model at ≈ 51
 * samples/s and infers at ≈ 240/s; the wasm targets are ≥ 40 and ≥ 200.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, describeBackend, initBackend, type BackendInfo, type BackendName, BACKEND_NAMES } from '../src/model/backend.ts';
import { SaveableAdamax } from '../src/model/adamax.ts';
import { buildPaperCnn } from '../src/model/cnn.ts';
import { predictFused } from '../src/model/infer.ts';
import { measureWasmPeak, paperCnnFlopsPerSample, type WasmPeak } from './roofline.ts';
import { relaxedSimdAvailable } from '../src/model/wasm-gemm.ts';

/** Options of {@link benchTrainBackend}. */
export interface BenchTrainBackendOptions {
  /**
   * Backends to measure. Default: every backend present except JS `cpu`, which needs about
   * 20 minutes per training step of batch 32 (0.03 samples/s measured); ask for it explicitly.
   */
  readonly backends?: readonly BackendName[];
  /** wasm threads. Default: every logical core. */
  readonly threads?: number;
  /** Timed steps per measurement (median reported). Default 5, minimum 1. */
  readonly steps?: number;
  /** Untimed warm-up steps. Default 2. */
  readonly warmup?: number;
  /** Batch size. Default 32 (paper §5.2.3). */
  readonly batchSize?: number;
  /** Input length in samples. Default 64 000 (paper). */
  readonly inputLength?: number;
  /** Also profile one training step per backend (per-kernel time). Default false. */
  readonly profile?: boolean;
  /** Where to write the JSON. Default `bench/results/train-backend.json`; `null` writes nothing. */
  readonly outFile?: string | null;
  /** Progress lines. Default: none. */
  readonly log?: (line: string) => void;
}

/** Time spent in one kernel during one profiled training step. */
export interface KernelTime {
  readonly kernel: string;
  readonly calls: number;
  /** Milliseconds, summed over calls. */
  readonly ms: number;
  /** Share of all kernel time in the step, 0–1. */
  readonly share: number;
}

/** Figures for one backend. */
export interface BackendFigures {
  readonly backend: BackendInfo;
  /** Training samples per second: batch size / median step time. */
  readonly trainSamplesPerSec: number;
  /**
   * Inference samples per second: batch size / median forward time, through the project's
   * inference path (`predictFused`: batch norm folded, bias and ReLU fused; what `eval-nsynth`
   * and `train-cnn`'s test metrics run).
   */
  readonly inferSamplesPerSec: number;
  /** The same through tfjs-layers' `model.predict` (unfused: convolution, bias Add, Relu). */
  readonly layersPredictSamplesPerSec: number;
  /** Each timed training step, ms. */
  readonly trainStepMs: readonly number[];
  /** Each timed inference batch, ms. */
  readonly inferStepMs: readonly number[];
  /** Each timed `model.predict` batch, ms. */
  readonly layersPredictStepMs: readonly number[];
  /** Per-kernel time of one training step, largest first (with `profile`). */
  readonly trainProfile?: readonly KernelTime[];
  /** Per-kernel time of one inference batch, largest first (with `profile`). */
  readonly inferProfile?: readonly KernelTime[];
}

/** What {@link benchTrainBackend} returns and writes. */
export interface BenchTrainBackendResult {
  readonly benchmark: 'train-backend';
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly platform: string };
  readonly config: { readonly batchSize: number; readonly inputLength: number; readonly steps: number; readonly warmup: number; readonly optimizer: 'adamax'; readonly loss: 'meanSquaredError' };
  readonly reference: { readonly pytorchCpuTrainSamplesPerSec: 51; readonly pytorchCpuInferSamplesPerSec: 240; readonly wasmTargetTrain: 40; readonly wasmTargetInfer: 200 };
  readonly results: readonly BackendFigures[];
  /**
   * What the arithmetic allows: flops per sample (from the layer shapes), this machine's measured
   * WebAssembly SIMD peak, the throughput the measured steps achieve, and the samples/s that the
   * peak would give if every operation ran at it (a ceiling no kernel can pass).
   */
  readonly roofline: {
    readonly trainGflopPerSample: number;
    readonly inferGflopPerSample: number;
    readonly wasmPeak: readonly WasmPeak[];
    readonly perBackend: ReadonlyArray<{ readonly backend: string; readonly trainGflops: number; readonly inferGflops: number; readonly trainCeilingSamplesPerSec?: number; readonly inferCeilingSamplesPerSec?: number }>;
  };
  /** Backends present but not measured, with why. */
  readonly skipped: ReadonlyArray<{ readonly backend: BackendName; readonly reason: string }>;
}

const DEFAULT_OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results', 'train-backend.json');

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summarizeProfile(info: Awaited<ReturnType<typeof tf.profile>>): KernelTime[] {
  const byKernel = new Map<string, { calls: number; ms: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const e = byKernel.get(key) ?? { calls: 0, ms: 0 };
    e.calls += 1;
    e.ms += ms;
    byKernel.set(key, e);
    total += ms;
  }
  return [...byKernel.entries()]
    .map(([kernel, e]) => ({ kernel, calls: e.calls, ms: Math.round(e.ms * 10) / 10, share: total > 0 ? e.ms / total : 0 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 25);
}

async function timeSteps(count: number, step: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return times;
}

async function measure(name: BackendName, o: Required<Omit<BenchTrainBackendOptions, 'backends' | 'outFile' | 'log' | 'threads'>> & { threads?: number }, log: (line: string) => void): Promise<BackendFigures> {
  const backend = await initBackend(o.threads === undefined ? { backend: name } : { backend: name, threads: o.threads });
  log(`${describeBackend(backend)}: building the paper CNN, input ${o.inputLength}, batch ${o.batchSize}`);
  const model = buildPaperCnn({ inputLength: o.inputLength, seed: 1 });
  model.compile({ optimizer: new SaveableAdamax(1e-3), loss: 'meanSquaredError' });
  const x = tf.randomNormal([o.batchSize, o.inputLength, 1], 0, 1, 'float32', 2);
  const y = tf.randomNormal([o.batchSize, 15], 0, 1, 'float32', 3);
  try {
    const trainStep = async (): Promise<void> => {
      await model.trainOnBatch(x, y);
    };
    const inferStep = async (): Promise<void> => {
      const outputs = predictFused(model, x);
      await (outputs[0] as tf.Tensor).data();
      tf.dispose(outputs);
    };
    const layersPredictStep = async (): Promise<void> => {
      const p = model.predict(x) as tf.Tensor;
      await p.data();
      p.dispose();
    };
    await timeSteps(o.warmup, trainStep);
    const trainStepMs = await timeSteps(o.steps, trainStep);
    log(`  train steps ms: ${trainStepMs.map((t) => t.toFixed(0)).join(' ')}`);
    await timeSteps(o.warmup, inferStep);
    const inferStepMs = await timeSteps(o.steps, inferStep);
    log(`  infer steps ms: ${inferStepMs.map((t) => t.toFixed(0)).join(' ')}`);
    await timeSteps(o.warmup, layersPredictStep);
    const layersPredictStepMs = await timeSteps(o.steps, layersPredictStep);
    log(`  model.predict steps ms: ${layersPredictStepMs.map((t) => t.toFixed(0)).join(' ')}`);
    const figures: BackendFigures = {
      backend,
      trainSamplesPerSec: (o.batchSize * 1000) / median(trainStepMs),
      inferSamplesPerSec: (o.batchSize * 1000) / median(inferStepMs),
      layersPredictSamplesPerSec: (o.batchSize * 1000) / median(layersPredictStepMs),
      trainStepMs,
      inferStepMs,
      layersPredictStepMs,
    };
    if (!o.profile) return figures;
    const trainProfile = summarizeProfile(await tf.profile(trainStep));
    const inferProfile = summarizeProfile(await tf.profile(inferStep));
    return { ...figures, trainProfile, inferProfile };
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
  }
}

/**
 * Measures training and inference throughput of the paper's CNN on each requested backend and
 * writes the figures as JSON. Numbers on a shared machine are noisy: compare medians, not steps.
 */
export async function benchTrainBackend(options: BenchTrainBackendOptions = {}): Promise<BenchTrainBackendResult> {
  const log = options.log ?? (() => undefined);
  const present = await availableBackends();
  const wanted = options.backends ?? present.filter((b) => b !== 'cpu');
  const skipped: Array<{ backend: BackendName; reason: string }> = [];
  for (const b of present) {
    if (!wanted.includes(b)) skipped.push({ backend: b, reason: b === 'cpu' ? 'pure JS: ~0.03 training samples/s, ask with --backends cpu' : 'not requested' });
  }
  const o = {
    steps: Math.max(1, options.steps ?? 5),
    warmup: Math.max(0, options.warmup ?? 2),
    batchSize: options.batchSize ?? 32,
    inputLength: options.inputLength ?? 64000,
    profile: options.profile ?? false,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  };
  const results: BackendFigures[] = [];
  for (const name of wanted) {
    if (!present.includes(name)) {
      skipped.push({ backend: name, reason: 'not installed' });
      continue;
    }
    const figures = await measure(name, o, log);
    log(`  ${name}: train ${figures.trainSamplesPerSec.toFixed(1)} samples/s, infer ${figures.inferSamplesPerSec.toFixed(1)} samples/s (model.predict ${figures.layersPredictSamplesPerSec.toFixed(1)})`);
    results.push(figures);
  }
  const flops = paperCnnFlopsPerSample(o.inputLength);
  const cores = os.cpus().length;
  const wasmPeak: WasmPeak[] = [];
  if (results.some((r) => r.backend.name === 'wasm')) {
    for (const fma of relaxedSimdAvailable() ? [false, true] : [false]) {
      for (const t of [...new Set([1, cores])]) {
        const p = await measureWasmPeak(t, 3, 0.5, fma);
        log(`wasm SIMD peak${fma ? ' with relaxed-SIMD FMA' : ' (SIMD128, no FMA)'}, ${t} thread(s): ${p.gflops.toFixed(1)} GFLOP/s`);
        wasmPeak.push(p);
      }
    }
  }
  const perBackend = results.map((r) => {
    // The ceiling is the faster of the two peaks for the backend's thread count (the engine uses FMA where it can).
    const peaks = wasmPeak.filter((p) => p.threads === r.backend.threads);
    const peak = r.backend.name === 'wasm' ? peaks.sort((a, b) => b.gflops - a.gflops)[0] ?? wasmPeak[wasmPeak.length - 1] : undefined;
    return {
      backend: describeBackend(r.backend),
      trainGflops: (r.trainSamplesPerSec * flops.training) / 1e9,
      inferGflops: (r.inferSamplesPerSec * flops.inference) / 1e9,
      ...(peak ? { trainCeilingSamplesPerSec: (peak.gflops * 1e9) / flops.training, inferCeilingSamplesPerSec: (peak.gflops * 1e9) / flops.inference } : {}),
    };
  });
  for (const b of perBackend) {
    log(`  ${b.backend}: ${b.trainGflops.toFixed(1)} GFLOP/s training, ${b.inferGflops.toFixed(1)} inference${b.trainCeilingSamplesPerSec ? `; at the faster SIMD peak every operation would give ${b.trainCeilingSamplesPerSec.toFixed(1)} training / ${b.inferCeilingSamplesPerSec?.toFixed(0)} inference samples/s` : ''}`);
  }
  const result: BenchTrainBackendResult = {
    benchmark: 'train-backend',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}` },
    config: { batchSize: o.batchSize, inputLength: o.inputLength, steps: o.steps, warmup: o.warmup, optimizer: 'adamax', loss: 'meanSquaredError' },
    reference: { pytorchCpuTrainSamplesPerSec: 51, pytorchCpuInferSamplesPerSec: 240, wasmTargetTrain: 40, wasmTargetInfer: 200 },
    results,
    roofline: { trainGflopPerSample: flops.training / 1e9, inferGflopPerSample: flops.inference / 1e9, wasmPeak, perBackend },
    skipped,
  };
  const outFile = options.outFile === undefined ? DEFAULT_OUT : options.outFile;
  if (outFile !== null) {
    await mkdir(path.dirname(outFile), { recursive: true });
    await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${outFile}`);
  }
  return result;
}

function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backends: { type: 'string' },
      threads: { type: 'string' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      batch: { type: 'string' },
      'input-length': { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const backends = values.backends?.split(',').map((s) => s.trim());
  const bad = backends?.filter((b) => !isBackendName(b)) ?? [];
  if (bad.length > 0) {
    console.error(`unknown backend(s) ${bad.join(', ')}; choose from ${BACKEND_NAMES.join(', ')}`);
    return 2;
  }
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const result = await benchTrainBackend({
    ...(backends === undefined ? {} : { backends: backends as BackendName[] }),
    ...(values.threads === undefined ? {} : { threads: num(values.threads) as number }),
    ...(values.steps === undefined ? {} : { steps: num(values.steps) as number }),
    ...(values.warmup === undefined ? {} : { warmup: num(values.warmup) as number }),
    ...(values.batch === undefined ? {} : { batchSize: num(values.batch) as number }),
    ...(values['input-length'] === undefined ? {} : { inputLength: num(values['input-length']) as number }),
    profile: values.profile,
    ...(values.out === undefined ? {} : { outFile: path.resolve(values.out) }),
    log: (line) => console.log(line),
  });
  for (const r of result.results) {
    console.log(`${describeBackend(r.backend)}: train ${r.trainSamplesPerSec.toFixed(1)} samples/s, infer ${r.inferSamplesPerSec.toFixed(1)} samples/s (model.predict ${r.layersPredictSamplesPerSec.toFixed(1)})`);
    for (const k of r.trainProfile?.slice(0, 12) ?? []) console.log(`  ${k.ms.toFixed(1).padStart(8)} ms ${(100 * k.share).toFixed(1).padStart(5)} %  ${k.kernel}`);
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.stack ?? e.message : e);
      process.exit(1);
    },
  );
}
