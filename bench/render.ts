/**
 * Benchmark of the voice renderer on the paper's render (4 s at 48 kHz, 192 000 samples,
 * `paper-3s2p`, feedback 0): the operator passes through the JS fallback kernel (sine table, the
 * renderer's original loop) against the WebAssembly SIMD kernel.
 * Run: `npx tsx bench/render.ts` (prints JSON). Medians after warm-up, because the machine is
 * shared and single runs are noisy.
 */
import { timeRuns } from './timing.ts';
import { fileURLToPath } from 'node:url';
import { decimate3 } from '../src/dsp/resample.ts';
import { createJsFmKernel, createWasmFmKernel, type FmKernel } from '../src/dsp/fm-kernel.ts';
import { DEFAULT_ALGORITHM, getAlgorithm } from '../src/synth/algorithms.ts';
import { PAPER_RENDER, RenderScratch, renderLength, renderOscillators, renderVoice } from '../src/synth/render.ts';
import { samplePatch } from '../src/synth/sampler.ts';

/** One variant's timing, milliseconds per 4 s render. */
export interface RenderTiming {
  readonly name: string;
  /** Median over `runs` timed renders. */
  readonly msPerRender: number;
  readonly msMin: number;
  readonly runs: number;
}

/** Result of {@link benchRender}. */
export interface RenderBench {
  readonly algorithm: string;
  readonly samples: number;
  /** Median ms per `renderVoice` (operators, mix, ADSR) with the JS fallback kernel. */
  readonly jsMsPerRender: number;
  /** The same with the WebAssembly SIMD kernel (null where this runtime lacks it). */
  readonly wasmMsPerRender: number | null;
  /** jsMsPerRender / wasmMsPerRender. */
  readonly speedup: number | null;
  /** Every variant measured (renderVoice, renderOscillators, and voice + decimation, per kernel). */
  readonly variants: readonly RenderTiming[];
}

function time(name: string, fn: (i: number) => void, runs: number, warmup: number): RenderTiming {
  const t = timeRuns(fn, runs, warmup);
  return { name, msPerRender: t.medianMs, msMin: t.minMs, runs };
}

/**
 * Times renders of paper patches (a fixed set of 8 sampled patches, cycled) per kernel.
 *
 * @param runs timed renders per variant (≥ 20).
 * @param warmup untimed renders first (lets V8 tier the kernels up).
 */
export function benchRender(runs = 41, warmup = 10): RenderBench {
  if (!(runs >= 20)) throw new Error('benchRender: at least 20 runs');
  const alg = getAlgorithm(DEFAULT_ALGORITHM);
  const opts = PAPER_RENDER;
  const n = renderLength(opts);
  const sampler = { seed: 2024, nyquist: 'keep' as const, nyquistHz: 24000 };
  const patches = Array.from({ length: 8 }, (_, i) => samplePatch(i, sampler).patch);
  const out = new Float32Array(n);
  const kernels: [string, FmKernel | null][] = [
    ['js', createJsFmKernel()],
    ['wasm-simd', createWasmFmKernel()],
  ];
  const variants: RenderTiming[] = [];
  const voiceMs: Record<string, number> = {};
  for (const [name, kernel] of kernels) {
    if (kernel === null) continue;
    const scratch = new RenderScratch(n, kernel);
    const v = time(`renderVoice, ${name} kernel`, (i) => renderVoice(patches[i % 8], alg, opts, out, scratch), runs, warmup);
    const o = time(`renderOscillators, ${name} kernel`, (i) => renderOscillators(patches[i % 8], alg, opts, out, scratch), runs, warmup);
    const note = new Float32Array(Math.ceil(n / 3));
    const d = time(`renderVoice + decimate3 (a dataset note), ${name} kernel`, (i) => {
      renderVoice(patches[i % 8], alg, opts, out, scratch);
      decimate3(out, note);
    }, runs, warmup);
    variants.push(v, o, d);
    voiceMs[name] = v.msPerRender;
    scratch.dispose();
  }
  const wasm = voiceMs['wasm-simd'] ?? null;
  return {
    algorithm: alg.name,
    samples: n,
    jsMsPerRender: voiceMs.js,
    wasmMsPerRender: wasm,
    speedup: wasm === null ? null : voiceMs.js / wasm,
    variants,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(benchRender(), null, 2));
}
