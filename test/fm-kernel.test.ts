/**
 * The operator kernel against Math.sin in closed form (random increments, random modulation,
 * several summed inputs, a whole 4 s note), against the JS fallback, on lengths that are not a
 * multiple of the SIMD width, and for buffer bookkeeping: no write outside its buffer, aliasing
 * and foreign buffers refused, contents kept when the memory grows. Last, whole voices rendered
 * through either kernel agree in every algorithm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createJsFmKernel,
  createWasmFmKernel,
  defaultFmKernel,
  type FmBuffer,
  type FmKernel,
  jsOperatorLoop,
  MAX_MOD_INPUTS,
  MOD_UNITS_PER_RAD,
} from '../src/dsp/fm-kernel.ts';
import { ALGORITHM_NAMES, getAlgorithm } from '../src/synth/algorithms.ts';
import { PAPER_RENDER, RenderScratch, renderLength, renderOscillators } from '../src/synth/render.ts';
import { samplePatch } from '../src/synth/sampler.ts';

const wasmOrNull = createWasmFmKernel();

/** Deterministic uniform [0, 1) (LCG): tests never use Math.random. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** scale · sin(2π frac(inc·i) + π Σ mods[i]) in float64, phases reduced as the reference renderer does. */
function expected(i: number, inc: number, scale: number, mods: readonly Float32Array[]): number {
  const c = inc * i;
  let phase = 2 * Math.PI * (c - Math.floor(c));
  for (const m of mods) phase += Math.PI * m[i];
  return scale * Math.sin(phase);
}

/** Fills `n`-sample modulation buffers with random values of magnitude ≤ `peakRad` radians. */
function randomMods(kernel: FmKernel, count: number, n: number, peakRad: number, rand: () => number): FmBuffer[] {
  return Array.from({ length: count }, () => {
    const b = kernel.alloc(n);
    const v = kernel.view(b);
    for (let i = 0; i < n; i++) v[i] = (2 * rand() - 1) * peakRad * MOD_UNITS_PER_RAD;
    return b;
  });
}

function maxError(kernel: FmKernel, dst: FmBuffer, inc: number, scale: number, mods: readonly FmBuffer[], base?: Float32Array): number {
  const y = kernel.view(dst);
  const m = mods.map((b) => kernel.view(b));
  let worst = 0;
  for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - (base ? base[i] : 0) - expected(i, inc, scale, m)));
  return worst;
}

test('WebAssembly SIMD is available here (otherwise the kernel tests below cover only the fallback)', () => {
  assert.ok(wasmOrNull !== null, 'createWasmFmKernel returned null on Node 20');
  assert.equal(defaultFmKernel().kind, 'wasm-simd');
});

const kernels: [string, () => FmKernel][] = [
  ['wasm', () => wasmOrNull ?? assert.fail('no wasm kernel')],
  ['js', createJsFmKernel],
];

for (const [name, make] of kernels) {
  test(`${name} kernel: pure operator against Math.sin over a whole 4 s note (phase stays exact)`, () => {
    const kernel = make();
    const n = 192_000;
    const dst = kernel.alloc(n);
    const rand = lcg(1);
    let worst = 0;
    let worstTail = 0;
    for (let trial = 0; trial < 6; trial++) {
      // Awkward increments: irrational-looking, near 0, near Nyquist, above the rate (aliases).
      const inc = [0.1234567891234, 5987.31 / 48000, 1e-5 * rand(), 0.4999 + 1e-4 * rand(), 1.37 + rand(), rand()][trial];
      const scale = 0.25 + rand();
      kernel.operator(dst, false, [], inc, scale);
      const y = kernel.view(dst);
      for (let i = 0; i < n; i++) {
        const e = Math.abs(y[i] - expected(i, inc, scale, [])) / scale;
        worst = Math.max(worst, e);
        if (i >= n - 4800) worstTail = Math.max(worstTail, e);
      }
    }
    // wasm: ≈ 2e-7 (float32 polynomial, phase rounded once to float32); js: table ≤ 2.9e-7.
    assert.ok(worst < 5e-7, `${name}: max error ${worst} of full scale`);
    assert.ok(worstTail < 5e-7, `${name}: last 0.1 s off by ${worstTail}: phase drift`);
  });

  test(`${name} kernel: 0 … ${MAX_MOD_INPUTS} summed random modulation inputs, overwrite and accumulate`, () => {
    const kernel = make();
    const rand = lcg(2);
    const n = 4099;
    const dst = kernel.alloc(n);
    for (let count = 0; count <= MAX_MOD_INPUTS; count++) {
      for (const peakRad of [0.5, 8, 40 / 3]) {
        const mods = randomMods(kernel, count, n, peakRad, rand);
        const inc = rand();
        kernel.operator(dst, false, mods, inc, 1);
        const first = kernel.view(dst).slice();
        const overwrite = maxError(kernel, dst, inc, 1, mods);
        kernel.operator(dst, true, mods, inc, 0.5);
        const accumulate = maxError(kernel, dst, inc, 0.5, mods, first);
        // One input: depth-independent (the kernel reduces it before adding it to the phase).
        // Several: both kernels sum them in float32 first, each add rounding by ≤ 2⁻²⁴ of the
        // partial sum (|Σ| ≤ count · peak); the truth here sums in float64.
        const tol = 5e-7 + (count - 1) * count * peakRad * 2 ** -24;
        assert.ok(overwrite < tol, `${name}, ${count} inputs of ±${peakRad} rad: max error ${overwrite} > ${tol}`);
        assert.ok(accumulate < tol, `${name}, ${count} inputs, accumulate: max error ${accumulate} > ${tol}`);
        for (const m of mods) kernel.free(m);
      }
    }
    kernel.free(dst);
  });

  test(`${name} kernel: self-feedback matches the JS loop it delegates to`, () => {
    const kernel = make();
    const n = 1001;
    const dst = kernel.alloc(n);
    const mods = randomMods(kernel, 2, n, 2, lcg(3));
    kernel.operator(dst, false, mods, 0.0371, 0.8, Math.PI / 4);
    const ref = new Float32Array(n);
    jsOperatorLoop(ref, false, mods.map((b) => kernel.view(b)), 0.0371, 0.8, Math.PI / 4);
    assert.deepEqual(kernel.view(dst), ref);
  });
}

test('wasm kernel agrees with the JS fallback on random passes', () => {
  const wasm = wasmOrNull ?? assert.fail('no wasm kernel');
  const js = createJsFmKernel();
  const rand = lcg(4);
  const n = 20_001;
  let worst = 0;
  for (let trial = 0; trial < 12; trial++) {
    const count = trial % (MAX_MOD_INPUTS + 1);
    const inc = 2 * rand();
    const scale = rand() * 3;
    const src = Array.from({ length: count }, () => Float32Array.from({ length: n }, () => (2 * rand() - 1) * 3));
    const run = (k: FmKernel): Float32Array => {
      const mods = src.map((s) => {
        const b = k.alloc(n);
        k.view(b).set(s);
        return b;
      });
      const dst = k.alloc(n);
      k.operator(dst, false, mods, inc, scale);
      return k.view(dst).slice();
    };
    const a = run(wasm);
    const b = run(js);
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(scale, 1e-9));
  }
  // Both are within ~1e-6 of the truth at these modulation depths (≤ 9 half-cycles).
  assert.ok(worst < 4e-6, `wasm vs js: ${worst} of full scale`);
});

test('odd lengths: every sample right, nothing written past the end or before the start', () => {
  for (const [name, make] of kernels) {
    const kernel = make();
    for (const n of [1, 2, 3, 5, 6, 7, 15, 17, 63, 65, 1001]) {
      const before = kernel.alloc(37);
      const mod = kernel.alloc(n);
      const dst = kernel.alloc(n);
      const after = kernel.alloc(n);
      kernel.view(before).fill(7);
      kernel.view(after).fill(-7);
      const m = kernel.view(mod);
      for (let i = 0; i < n; i++) m[i] = 0.3 * Math.sin(i);
      kernel.operator(dst, false, [mod], 0.173, 1);
      kernel.operator(dst, true, [mod], 0.31, 1);
      const y = kernel.view(dst);
      for (let i = 0; i < n; i++) {
        const e = expected(i, 0.173, 1, [m]) + expected(i, 0.31, 1, [m]);
        assert.ok(Math.abs(y[i] - e) < 1e-6, `${name}, n=${n}, i=${i}: ${y[i]} vs ${e}`);
      }
      assert.ok(kernel.view(before).every((v) => v === 7), `${name}, n=${n}: buffer before dst was written`);
      assert.ok(kernel.view(after).every((v) => v === -7), `${name}, n=${n}: buffer after dst was written`);
      assert.ok(m.every((v, i) => v === Math.fround(0.3 * Math.sin(i))), `${name}, n=${n}: modulation input was modified`);
      for (const b of [before, mod, dst, after]) kernel.free(b);
    }
  }
});

test('buffers: aliasing, foreign and freed buffers are refused; length mismatches too', () => {
  for (const [name, make] of kernels) {
    const kernel = make();
    const other = createJsFmKernel();
    const a = kernel.alloc(100);
    const b = kernel.alloc(100);
    assert.throws(() => kernel.operator(a, false, [a], 0.1, 1), /must not also be a modulation input/, name);
    assert.throws(() => kernel.operator(a, false, [other.alloc(100)], 0.1, 1), /another kernel/, name);
    assert.throws(() => kernel.operator(a, false, [kernel.alloc(99)], 0.1, 1), /99 samples/, name);
    assert.throws(() => kernel.operator(a, false, [b, b, b, b], 0.1, 1), /at most 3/, name);
    assert.throws(() => kernel.operator(a, false, [], Number.NaN, 1), /finite/, name);
    kernel.free(b);
    assert.throws(() => kernel.operator(a, false, [b], 0.1, 1), /freed/, name);
    assert.throws(() => kernel.view(b), /freed/, name);
    // A freed region is reused, zeroed, and distinct from live buffers.
    kernel.view(a).fill(3);
    const c = kernel.alloc(100);
    assert.ok(kernel.view(c).every((v) => v === 0), `${name}: reused buffer not zeroed`);
    assert.ok(kernel.view(a).every((v) => v === 3), `${name}: live buffer overwritten by alloc`);
  }
});

test('wasm kernel: buffers keep their contents when the memory grows (views are refreshed)', () => {
  const kernel = wasmOrNull ? createWasmFmKernel() : null;
  if (kernel === null) return assert.fail('no wasm kernel');
  const first = kernel.alloc(1000);
  kernel.operator(first, false, [], 0.01, 1);
  const snapshot = kernel.view(first).slice();
  const big = Array.from({ length: 8 }, () => kernel.alloc(192_000)); // ≈ 6 MB: several grows
  const v = kernel.view(first);
  assert.notEqual(v.byteLength, 0, 'stale (detached) view returned');
  assert.deepEqual(v, snapshot);
  kernel.operator(big[7], false, [big[0]], 0.01, 1);
  const y = kernel.view(big[7]);
  for (let i = 0; i < y.length; i += 997) assert.ok(Math.abs(y[i] - Math.sin(2 * Math.PI * ((0.01 * i) % 1))) < 5e-7, `sample ${i}`);
});

test('renderOscillators gives the same voice through either kernel, in every algorithm (self-feedback in JS)', () => {
  const js = createJsFmKernel();
  const opts = { ...PAPER_RENDER, durationSec: 0.05, noteOffSec: 1e9 };
  const n = renderLength(opts);
  const viaJs = new RenderScratch(n, js);
  const sampler = { seed: 11, nyquist: 'keep' as const, nyquistHz: 24000 };
  let worst = 0;
  let where = '';
  for (const name of ALGORITHM_NAMES) {
    const alg = getAlgorithm(name);
    // Loop feedback (DX7 4 and 6) bypasses the kernels; self-feedback runs its one operator in JS.
    const selfFeedback = alg.feedback !== null && alg.feedback.from === alg.feedback.into;
    for (const feedback of selfFeedback ? [0, 6] : [0]) {
      const patch = samplePatch(ALGORITHM_NAMES.indexOf(name), sampler).patch;
      const o = { ...opts, feedback };
      const a = renderOscillators(patch, alg, o);
      const b = renderOscillators(patch, alg, o, undefined, viaJs);
      for (let i = 0; i < n; i++) {
        const e = Math.abs(a[i] - b[i]);
        if (e > worst) [worst, where] = [e, `${name}, feedback ${feedback}`];
      }
    }
  }
  viaJs.dispose();
  assert.ok(worst < 2e-5, `wasm and JS renders differ by ${worst} (${where})`);
});
