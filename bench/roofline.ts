/**
 * A roofline for the training benchmark: how many floating-point operations one training sample
 * of the paper's CNN costs (counted from the layer shapes), and how many per second this machine's
 * WebAssembly SIMD can do at best (a measured peak). Together they say which throughputs the wasm
 * backend can reach at all, whatever its kernels: a target above `peak / flopsPerSample` needs
 * other hardware instructions (FMA, wider vectors) or a native backend.
 */
import { Worker } from 'node:worker_threads';
import { assembleModule, f32x4Const, I32, op, simd, simdOp, sleb, uleb, V128, wasmApi } from '../src/dsp/wasm-emit.ts';
import { PAPER_CONV_LAYERS } from '../src/model/cnn.ts';
import { relaxedSimdAvailable } from '../src/model/wasm-gemm.ts';
import { median } from './timing.ts';

/** Multiply-accumulates of one layer's forward pass, per sample. */
export interface LayerMacs {
  readonly layer: string;
  readonly forwardMacs: number;
  /** Whether training also needs the gradient with respect to the layer's input. */
  readonly inputGradient: boolean;
}

/** Forward multiply-accumulates per sample of each weight layer of the paper's CNN (Tables 2–3). */
export function paperCnnMacs(inputLength = 64000, outputs = 15): LayerMacs[] {
  const layers: LayerMacs[] = [];
  let length = inputLength;
  let channels = 1;
  PAPER_CONV_LAYERS.forEach(([filters, kernel, stride], i) => {
    length = Math.floor((length - kernel) / stride) + 1;
    // The first convolution's input gradient feeds only the input BatchNormalization's two
    // parameters, but tfjs computes it all the same.
    layers.push({ layer: `conv${i + 1}`, forwardMacs: length * filters * kernel * channels, inputGradient: true });
    channels = filters;
  });
  const flat = length * channels;
  const d1 = Math.floor(flat / 2);
  const d2 = Math.floor(flat / 4);
  layers.push({ layer: 'dense1', forwardMacs: flat * d1, inputGradient: true });
  layers.push({ layer: 'dense2', forwardMacs: d1 * d2, inputGradient: true });
  layers.push({ layer: 'dense3', forwardMacs: d2 * outputs, inputGradient: true });
  return layers;
}

/**
 * Floating-point operations (2 per multiply-accumulate) per sample: inference = the forward pass;
 * training = forward + weight gradient + input gradient, each as large as the forward pass. The
 * element-wise work (activations, normalisation, optimizer) is left out: it is memory-bound and
 * small in operations.
 */
export function paperCnnFlopsPerSample(inputLength = 64000): { inference: number; training: number; layers: LayerMacs[] } {
  const layers = paperCnnMacs(inputLength);
  const forward = layers.reduce((s, l) => s + l.forwardMacs, 0);
  const backward = layers.reduce((s, l) => s + l.forwardMacs * (l.inputGradient ? 2 : 1), 0);
  return { inference: 2 * forward, training: 2 * (forward + backward), layers };
}

/** relaxed SIMD's f32x4.relaxed_madd (a·b + c, fused where the CPU has FMA). */
const F32X4_RELAXED_MADD = 0x105;

/** Independent multiply-add chains in the peak kernel: enough to hide the latency of both. */
const CHAINS = 12;
/** Flops per loop iteration: each chain does a 4-lane multiply and a 4-lane add. */
const FLOPS_PER_ITERATION = CHAINS * 4 * 2;

/**
 * A WebAssembly function `peak(iterations)` that runs `CHAINS` independent `acc = acc·c + d`
 * chains of f32x4 operations (what a convolution's inner loop does), as a multiply and an add
 * (SIMD128) or, with `fma`, as relaxed SIMD's multiply-add (what the project's GEMM engine uses
 * where V8 has it), then stores the accumulators so the work cannot be optimised away.
 */
export function peakKernelBytes(fma = false): Uint8Array {
  const get = (i: number): number[] => [op.localGet, ...uleb(i)];
  const set = (i: number): number[] => [op.localSet, ...uleb(i)];
  // Locals: 0 = iterations (param), 1 = counter, 2 = c, 3 = d, 4… = accumulators.
  const C = 2;
  const D = 3;
  const ACC = 4;
  const code: number[] = [];
  code.push(...f32x4Const([0.9999, 0.9998, 0.9997, 0.9996]), ...set(C));
  code.push(...f32x4Const([1e-4, 2e-4, 3e-4, 4e-4]), ...set(D));
  for (let k = 0; k < CHAINS; k++) code.push(...f32x4Const([k, k + 0.25, k + 0.5, k + 0.75]), ...set(ACC + k));
  code.push(op.block, op.blockVoid, op.loop, op.blockVoid);
  for (let k = 0; k < CHAINS; k++) {
    if (fma) code.push(...get(ACC + k), ...get(C), ...get(D), ...simdOp(F32X4_RELAXED_MADD), ...set(ACC + k));
    else code.push(...get(ACC + k), ...get(C), ...simdOp(simd.f32x4Mul), ...get(D), ...simdOp(simd.f32x4Add), ...set(ACC + k));
  }
  code.push(...get(1), op.i32Const, ...sleb(1), op.i32Add, op.localTee, ...uleb(1), ...get(0), op.i32LtU, op.br_if, 0x00);
  code.push(op.end, op.end);
  for (let k = 0; k < CHAINS; k++) code.push(op.i32Const, ...sleb(16 * k), ...get(ACC + k), ...simdOp(simd.v128Store, [4, 0]));
  return assembleModule([{ params: [I32], locals: [[1, I32], [2 + CHAINS, V128]], code, exportName: 'peak' }], 1);
}

// Plain JavaScript (no TypeScript loader in the worker): instantiate, warm up, then time a fixed
// number of iterations after every thread has signalled that it is ready.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const inst = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes), {});
inst.exports.peak(1000000);
parentPort.once('message', () => {
  const t0 = performance.now();
  inst.exports.peak(workerData.iterations);
  parentPort.postMessage(performance.now() - t0);
});
parentPort.postMessage('ready');
`;

/** Measured f32 SIMD throughput of WebAssembly on this machine. */
export interface WasmPeak {
  readonly threads: number;
  /** Whether the kernel used relaxed SIMD's fused multiply-add. */
  readonly fma: boolean;
  /** Median over trials of all threads' flops / wall time, GFLOP/s. */
  readonly gflops: number;
  readonly trials: number;
  readonly note: string;
}

/**
 * Runs the peak kernel on `threads` worker threads at once, `trials` times, and returns the
 * median throughput. Each trial takes about `secondsPerTrial`.
 */
export async function measureWasmPeak(threads: number, trials = 3, secondsPerTrial = 0.5, fma = false): Promise<WasmPeak> {
  if (fma && !relaxedSimdAvailable()) throw new Error('this V8 has no relaxed SIMD');
  const bytes = peakKernelBytes(fma);
  // Calibrate on one thread: ~20–40 GFLOP/s → iterations for the requested duration.
  const api = wasmApi();
  if (!api) throw new Error('this runtime has no WebAssembly');
  const probe = new api.Instance(new api.Module(bytes), {}).exports as { peak: (iterations: number) => void };
  probe.peak(1e6);
  const t0 = performance.now();
  probe.peak(2e6);
  const perIterationMs = (performance.now() - t0) / 2e6;
  const iterations = Math.max(1e5, Math.round((secondsPerTrial * 1000) / perIterationMs));
  const results: number[] = [];
  for (let t = 0; t < trials; t++) {
    const workers = Array.from({ length: threads }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { bytes, iterations } }));
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.once('message', () => resolve());
      })));
      const start = performance.now();
      await Promise.all(workers.map((w) => new Promise<number>((resolve) => {
        w.once('message', (ms: number) => resolve(ms));
        w.postMessage('go');
      })));
      const wallSec = (performance.now() - start) / 1000;
      results.push((threads * iterations * FLOPS_PER_ITERATION) / wallSec / 1e9);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
  return {
    threads,
    gflops: median(results),
    trials,
    fma,
    note: fma
      ? `${CHAINS} independent f32x4.relaxed_madd chains (relaxed SIMD), all threads at once`
      : `${CHAINS} independent f32x4 multiply + add chains (no fused multiply-add in WebAssembly SIMD128), all threads at once`,
  };
}
