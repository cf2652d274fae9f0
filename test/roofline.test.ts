/**
 * The training benchmark's roofline: the flop count of the paper's CNN against hand-computed layer
 * sizes, and the SIMD peak kernel against the closed form of what it computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paperCnnFlopsPerSample, paperCnnMacs, peakKernelBytes } from '../bench/roofline.ts';
import { type WasmMemory, wasmApi } from '../src/dsp/wasm-emit.ts';
import { relaxedSimdAvailable } from '../src/model/wasm-gemm.ts';
import { expectClose } from './helpers.ts';

test('paper CNN multiply-accumulates per sample match the layer shapes (F = 3008)', () => {
  const macs = Object.fromEntries(paperCnnMacs(64000).map((l) => [l.layer, l.forwardMacs]));
  // conv1: 31 998 outputs × 16 filters × 5 taps; conv2: 1 992 × 32 × 128 × 16; conv3: 47 × 64 × 512 × 32.
  assert.equal(macs.conv1, 31998 * 16 * 5);
  assert.equal(macs.conv2, 1992 * 32 * 128 * 16);
  assert.equal(macs.conv3, 47 * 64 * 512 * 32);
  assert.equal(macs.dense1, 3008 * 1504);
  assert.equal(macs.dense2, 1504 * 752);
  assert.equal(macs.dense3, 752 * 15);
  const f = paperCnnFlopsPerSample(64000);
  const forward = Object.values(macs).reduce((a, b) => a + b, 0);
  assert.equal(f.inference, 2 * forward);
  assert.equal(f.training, 3 * f.inference);
});

for (const fma of [false, true]) test(`the SIMD peak kernel${fma ? ' (relaxed-SIMD FMA)' : ''} computes acc·c + d, n times, in every chain and lane`, () => {
  const api = wasmApi();
  assert.ok(api, 'WebAssembly');
  if (fma) assert.ok(relaxedSimdAvailable(), 'relaxed SIMD');
  const { peak, memory } = new api.Instance(new api.Module(peakKernelBytes(fma)), {}).exports as { peak: (n: number) => void; memory: WasmMemory };
  const n = 50;
  peak(n);
  const out = new Float32Array(memory.buffer, 0, 12 * 4);
  const c = [0.9999, 0.9998, 0.9997, 0.9996];
  const d = [1e-4, 2e-4, 3e-4, 4e-4];
  for (let k = 0; k < 12; k++) {
    for (let lane = 0; lane < 4; lane++) {
      const acc0 = k + lane * 0.25;
      const cn = Math.pow(c[lane], n);
      expectClose(out[4 * k + lane], acc0 * cn + (d[lane] * (1 - cn)) / (1 - c[lane]), { rtol: 1e-5, atol: 1e-6 });
    }
  }
});
