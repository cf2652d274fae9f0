/** Small model-layer helpers: the option differences a refused resume names; named tensors' digest. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { loadNamedTensors, ModelFileError, optionDifferences, saveNamedTensors } from '../src/model/io.ts';
import { tempDir } from './helpers.ts';

test('optionDifferences names each differing option, the checkpoint first, nested settings by their JSON', () => {
  const saved = { epochs: 10, batchSize: 4, learningRate: 0.001, spectrum: { count: 1085, binCents: 10 } };
  const names = { batchSize: '--batch', learningRate: '--lr' };
  assert.deepEqual(optionDifferences(saved, { ...saved, epochs: 20 }, names, ['epochs']), []);
  assert.deepEqual(optionDifferences(saved, { ...saved, batchSize: 8, epochs: 20 }, names, ['epochs']), ['--batch 4 vs 8']);
  assert.deepEqual(optionDifferences(saved, { ...saved, learningRate: 0.002, spectrum: { count: 543, binCents: 20 } }, names), [
    '--lr 0.001 vs 0.002',
    'spectrum {"count":1085,"binCents":10} vs {"count":543,"binCents":20}',
  ]);
  // A key missing from an older checkpoint counts as its default then.
  const older = { batchSize: 4 } as { batchSize: number; activation?: string };
  assert.deepEqual(optionDifferences(older, { batchSize: 4, activation: 'relu' }, {}, [], { activation: 'relu' }), []);
  assert.deepEqual(optionDifferences(older, { batchSize: 4, activation: 'elu' }, {}, [], { activation: 'relu' }), ['activation relu vs elu']);
});

test('named tensors round-trip with a SHA-256 of their weights; other contents of the same size are refused; the older layout (a bare list of specs) still loads', async () => {
  await initBackend({ backend: 'cpu' });
  const dir = tempDir('io');
  const base = path.join(dir, 'w');
  const a = tf.tensor1d([1.5, -2, 3]);
  await saveNamedTensors(base, [{ name: 'a', tensor: a }]);
  const json = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
  assert.equal(json.weightsSha256, createHash('sha256').update(readFileSync(`${base}.bin`)).digest('hex'));
  const loaded = loadNamedTensors(base);
  assert.deepEqual(Array.from(loaded[0]!.tensor.dataSync()), [1.5, -2, 3]);
  const bin = readFileSync(`${base}.bin`);
  bin.writeFloatLE(2.5, 4);
  writeFileSync(`${base}.bin`, bin);
  assert.throws(() => loadNamedTensors(base), (e: Error) => e instanceof ModelFileError && /w\.bin: corrupt \(its contents differ from the ones w\.json records/.test(e.message));
  writeFileSync(`${base}.json`, JSON.stringify(json.weights));
  assert.deepEqual(Array.from(loadNamedTensors(base)[0]!.tensor.dataSync()), [1.5, 2.5, 3], 'no digest: loaded as it is');
  tf.dispose([a, ...loaded.map((t) => t.tensor)]);
});
