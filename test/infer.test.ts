/**
 * Fused inference (`predictFused`) against tfjs-layers' own `model.predict` on the JS cpu
 * backend, for the paper's CNN and for models with layers it cannot fuse; and the batch-norm
 * folding against a float64 closed form.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { buildPaperCnn } from '../src/model/cnn.ts';
import { inferencePlan, predictFused } from '../src/model/infer.ts';
import { wasmEngineStats } from '../src/model/wasm-kernels.ts';
import { expectClose, relMaxError } from './helpers.ts';

before(async () => {
  await initBackend({ backend: 'cpu' });
  await initBackend({ backend: 'wasm', threads: 2 });
});

/** Outputs of `predictFused` and of `model.predict` on `backend`, as arrays; no tensor may leak. */
async function outputs(backend: 'cpu' | 'wasm', model: tf.LayersModel, x: Float32Array, shape: number[]): Promise<{ fused: Float32Array[]; predict: Float32Array[] }> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xt = tf.tensor(x, shape);
  const fusedT = predictFused(model, xt);
  const fused = fusedT.map((t) => t.dataSync() as Float32Array);
  tf.dispose(fusedT);
  const p = model.predict(xt);
  const predictT = Array.isArray(p) ? p : [p];
  const predict = predictT.map((t) => t.dataSync() as Float32Array);
  tf.dispose(predictT);
  xt.dispose();
  assert.equal(tf.memory().numTensors, before, `tensor leak on ${backend}`);
  return { fused, predict };
}

/** Deterministic pseudo-random values in [−1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Gives every BatchNormalization of `model` non-trivial moving statistics and affine weights. */
function perturbBatchNorms(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(layer.getWeights().map((w, i) => {
      const v = values(w.size, 7 + i).map((u) => (i === 3 ? 0.5 + u * u * 3 : u * 1.5)); // variance > 0
      return tf.tensor(v, w.shape);
    }));
  }
}

describe('predictFused', () => {
  test('paper CNN with a carrier-bins head: folded input norm, fused layers; equals model.predict on cpu (cpu and wasm)', async () => {
    await tf.setBackend('cpu');
    const L = 16800;
    // A model built before it: this one's variables are then named `extractor1/kernel_1` etc.
    buildPaperCnn({ inputLength: L }).dispose();
    const model = buildPaperCnn({ inputLength: L, seed: 5, carrierBins: 8 });
    assert.ok(model.getLayer('extractor1').weights.some((w) => w.name.endsWith('_1')), 'suffixed variable names');
    perturbBatchNorms(model);
    assert.deepEqual(Object.fromEntries(inferencePlan(model) ?? []), {
      audio: 'input', input_norm: 'folded', extractor1: 'fused', extractor2: 'fused', extractor3: 'fused',
      flatten: 'reshape', regressor1: 'fused', dropout: 'identity', regressor2: 'fused', parameters: 'fused', carrier_bins: 'fused',
    });
    const x = values(3 * L, 1);
    const cpu = await outputs('cpu', model, x, [3, L, 1]);
    const runsBefore = wasmEngineStats()?.runs ?? 0;
    const wasm = await outputs('wasm', model, x, [3, L, 1]);
    assert.ok((wasmEngineStats()?.runs ?? 0) > runsBefore, 'the engine ran on wasm');
    assert.equal(cpu.fused.length, 2);
    cpu.predict.forEach((want, i) => {
      expectClose(relMaxError(cpu.fused[i] as Float32Array, want), 0, { atol: 1e-5 }, `output ${i}: fused vs predict, cpu`);
      expectClose(relMaxError(wasm.fused[i] as Float32Array, want), 0, { atol: 1e-5 }, `output ${i}: fused on wasm vs predict on cpu`);
    });
    model.dispose();
  });

  test('layers it cannot fuse run as themselves: tanh, a batch norm with two consumers, pooling, concatenate; dilated and bias-free convs fuse', async () => {
    await tf.setBackend('cpu');
    const input = tf.input({ shape: [120, 3] });
    // A batch norm over 3 channels folded into a valid conv (per-channel folding).
    const bn0 = tf.layers.batchNormalization({ name: 'bn0' }).apply(input) as tf.SymbolicTensor;
    const c0 = tf.layers.conv1d({ name: 'c0', filters: 8, kernelSize: 4, strides: 2, activation: 'relu' }).apply(bn0) as tf.SymbolicTensor;
    // (tfjs-layers' Conv1D cannot run 'causal' padding at all; the TCN has its own causal conv.)
    const causal = tf.layers.conv1d({ name: 'nobias', filters: 8, kernelSize: 3, dilationRate: 2, useBias: false, activation: 'relu' }).apply(c0) as tf.SymbolicTensor;
    const same = tf.layers.conv1d({ name: 'same', filters: 8, kernelSize: 5, padding: 'same', activation: 'tanh' }).apply(c0) as tf.SymbolicTensor;
    const dil = tf.layers.conv1d({ name: 'dil', filters: 8, kernelSize: 3, padding: 'same', dilationRate: 3, activation: 'elu' }).apply(c0) as tf.SymbolicTensor;
    // A batch norm with two consumers: not folded.
    const bn1 = tf.layers.batchNormalization({ name: 'bn1' }).apply(same) as tf.SymbolicTensor;
    const a = tf.layers.conv1d({ name: 'a', filters: 8, kernelSize: 3, activation: 'sigmoid' }).apply(bn1) as tf.SymbolicTensor;
    const b = tf.layers.maxPooling1d({ name: 'pool', poolSize: 2 }).apply(bn1) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat', axis: 1 }).apply([a, b, causal, dil]) as tf.SymbolicTensor;
    const seq = tf.layers.dense({ name: 'dense3d', units: 4, activation: 'relu' }).apply(cat) as tf.SymbolicTensor; // Dense on 3-D input
    const flat = tf.layers.flatten({ name: 'flat' }).apply(seq) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'out', units: 5, activation: 'tanh' }).apply(flat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    perturbBatchNorms(model);
    const plan = inferencePlan(model);
    assert.ok(plan !== null);
    assert.equal(plan.get('bn0'), 'folded');
    assert.equal(plan.get('c0'), 'fused');
    for (const name of ['same', 'bn1', 'pool', 'cat', 'out']) assert.equal(plan.get(name), 'layer', name);
    assert.equal(plan.get('nobias'), 'fused');
    assert.equal(plan.get('dil'), 'fused');
    assert.equal(plan.get('a'), 'fused');
    const x = values(4 * 120 * 3, 2);
    for (const backend of ['cpu', 'wasm'] as const) {
      const r = await outputs(backend, model, x, [4, 120, 3]);
      expectClose(relMaxError(r.fused[0] as Float32Array, r.predict[0] as Float32Array), 0, { atol: 1e-5 }, `fused vs predict, ${backend}`);
    }
    model.dispose();
  });

  test('batch-norm folding: conv(a·x + s) with W·a and bias + Σ s·W, against a float64 closed form', async () => {
    await tf.setBackend('cpu');
    const model = tf.sequential({
      layers: [
        tf.layers.batchNormalization({ inputShape: [6, 2], name: 'bn', epsilon: 0.01 }),
        tf.layers.conv1d({ filters: 1, kernelSize: 3, strides: 3, activation: 'linear', name: 'conv' }),
      ],
    });
    const [gamma, beta, mean, variance] = [[2, -1], [0.5, 0.25], [1, -2], [3, 0.5]];
    model.getLayer('bn').setWeights([gamma, beta, mean, variance].map((v) => tf.tensor1d(v)));
    const w = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6]; // [K = 3, C = 2, F = 1]
    model.getLayer('conv').setWeights([tf.tensor3d(w, [3, 2, 1]), tf.tensor1d([0.7])]);
    assert.equal(inferencePlan(model)?.get('bn'), 'folded');
    const x = [1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6];
    const [y] = predictFused(model, tf.tensor3d(x, [1, 6, 2])) as [tf.Tensor];
    const got = Array.from(y.dataSync());
    const want = [0, 1].map((t) => {
      let acc = 0.7;
      for (let k = 0; k < 3; k++) {
        for (let c = 0; c < 2; c++) {
          const v = x[(3 * t + k) * 2 + c] as number;
          const norm = ((v - (mean[c] as number)) / Math.sqrt((variance[c] as number) + 0.01)) * (gamma[c] as number) + (beta[c] as number);
          acc += norm * (w[k * 2 + c] as number);
        }
      }
      return acc;
    });
    got.forEach((g, i) => expectClose(g, want[i] as number, { atol: 1e-5 }, `output ${i}`));
    model.dispose();
  });

  test('masks and layers with several outputs are not planned: model.predict runs, same values', async () => {
    await tf.setBackend('cpu');
    // A mask (the last steps are padding) that model.predict passes to the RNN.
    const a = tf.input({ shape: [6, 2] });
    const masked = tf.layers.masking({ maskValue: 0 }).apply(a) as tf.SymbolicTensor;
    const rnn = tf.model({ inputs: a, outputs: tf.layers.simpleRNN({ units: 4 }).apply(masked) as tf.SymbolicTensor });
    assert.equal(inferencePlan(rnn), null);
    const x = values(12, 4).map((v, i) => (i >= 8 ? 0 : v));
    const r = await outputs('cpu', rnn, x, [1, 6, 2]);
    assert.deepEqual(r.fused, r.predict);
    // An LSTM returning its states: three outputs of one layer.
    const b = tf.input({ shape: [5, 3] });
    const states = tf.layers.lstm({ units: 4, returnState: true }).apply(b) as tf.SymbolicTensor[];
    const lstm = tf.model({ inputs: b, outputs: tf.layers.dense({ units: 2 }).apply(states[1] as tf.SymbolicTensor) as tf.SymbolicTensor });
    assert.equal(inferencePlan(lstm), null);
    const r2 = await outputs('cpu', lstm, values(15, 5), [1, 5, 3]);
    assert.deepEqual(r2.fused, r2.predict);
    rnn.dispose();
    lstm.dispose();
  });

  test('an input of the wrong shape is refused as model.predict refuses it; an output that is the input is a copy', async () => {
    await tf.setBackend('cpu');
    const conv = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [10, 1], filters: 8, kernelSize: 3 })] });
    const x = tf.zeros([1, 20, 1]);
    assert.throws(() => predictFused(conv, x), /input of shape \[1, 20, 1\] for a model that takes \[batch, 10, 1\]/);
    const drop = tf.sequential({ layers: [tf.layers.dropout({ inputShape: [4], rate: 0.5 })] });
    const x2 = tf.ones([2, 4]);
    const [y] = predictFused(drop, x2) as [tf.Tensor];
    assert.notEqual(y, x2);
    y.dispose();
    assert.equal(x2.isDisposed, false);
    assert.deepEqual(Array.from(x2.dataSync()), [1, 1, 1, 1, 1, 1, 1, 1]);
    tf.dispose([x, x2]);
    conv.dispose();
    drop.dispose();
  });

  test('a model with a shared layer is not planned: model.predict runs, same values', async () => {
    await tf.setBackend('cpu');
    const input = tf.input({ shape: [8] });
    const shared = tf.layers.dense({ units: 8, activation: 'relu' });
    const out = shared.apply(shared.apply(input)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    assert.equal(inferencePlan(model), null);
    const r = await outputs('cpu', model, values(16, 3), [2, 8]);
    assert.deepEqual(r.fused, r.predict);
    model.dispose();
  });
});
