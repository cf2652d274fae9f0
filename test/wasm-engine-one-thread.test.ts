/**
 * The engine kernels on a one-thread wasm backend, where tfjs's heap is not shared and the engine
 * copies through a memory of its own (with threads it works in place on tfjs's heap: see
 * model-backend.test.ts). Checked against the JS cpu backend.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { tfjsSharedWasmMemory } from '../src/model/wasm-threads.ts';
import { expectClose, relMaxError } from './helpers.ts';

const rng = seedrandom('fmmatch-engine-one-thread');
const randArray = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng() * 2 - 1);

before(async () => {
  await initBackend({ backend: 'cpu' });
  const info = await initBackend({ backend: 'wasm', threads: 1 });
  assert.equal(info.threads, 1);
});

/** Runs `fn` on both backends and returns the largest difference relative to the largest cpu value. */
async function wasmVsCpu(fn: () => Float32Array[]): Promise<number[]> {
  const results: Float32Array[][] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    results.push(tf.tidy(fn));
    assert.equal(tf.memory().numTensors, before, `tensor leak on ${backend}`);
  }
  const [wasm, cpu] = results as [Float32Array[], Float32Array[]];
  return wasm.map((w, i) => relMaxError(w, cpu[i] as Float32Array));
}

describe('engine kernels, one wasm thread (own memory, copies)', () => {
  test('tfjs heap is not shared: the engine uses its own memory', () => {
    assert.equal(tfjsSharedWasmMemory(), null);
  });

  for (const [n, w, c, k, f, s] of [
    [3, 2053, 4, 32, 8, 4],
    [2, 2500, 8, 9, 16, 4],
    [2, 13201, 1, 5, 16, 2],
  ] as const) {
    test(`conv1d n ${n} w ${w} c ${c} k ${k} f ${f} stride ${s}: forward, dx, dw`, async () => {
      const x = randArray(n * w * c);
      const filt = randArray(k * c * f);
      const errs = await wasmVsCpu(() => {
        const xt = tf.tensor3d(x, [n, w, c]);
        const ft = tf.tensor3d(filt, [k, c, f]);
        const conv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, s, 'valid');
        const y = conv(xt, ft);
        const r = tf.sin(tf.range(0, y.size).reshape(y.shape));
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([xt, ft]) as [tf.Tensor, tf.Tensor];
        return [y.dataSync() as Float32Array, dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
      });
      errs.forEach((e, i) => expectClose(e, 0, { atol: 1e-5 }, ['forward', 'dx', 'dw'][i] as string));
    });
  }

  test('matrix products (plain, aᵀ·b, a·bᵀ, fused) and a column sum', async () => {
    const a = randArray(32 * 300);
    const b = randArray(300 * 120);
    const errs = await wasmVsCpu(() => {
      const at = tf.tensor2d(a, [32, 300]);
      const bt = tf.tensor2d(b, [300, 120]);
      const bias = tf.linspace(-1, 1, 120);
      return [
        tf.matMul(at, bt).dataSync() as Float32Array,
        tf.matMul(at, at.matMul(bt), true, false).dataSync() as Float32Array,
        tf.matMul(at, bt.transpose(), false, true).dataSync() as Float32Array,
        tf.fused.matMul({ a: at, b: bt, bias, activation: 'relu' }).dataSync() as Float32Array,
        tf.sum(tf.tensor3d(b, [300, 15, 8]), [0, 1]).dataSync() as Float32Array,
      ];
    });
    errs.forEach((e, i) => expectClose(e, 0, { atol: 1e-5 }, `product ${i}`));
  });
});
