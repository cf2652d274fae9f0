/** Small model-layer helpers: the option differences a refused resume names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optionDifferences } from '../src/model/io.ts';

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
