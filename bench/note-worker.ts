/** Bench worker: renders notes (48 kHz voice + decimation) without writing anything. */
import { serveTasks } from '../src/parallel/pool.ts';
import type { DatasetConfig } from '../src/dataset/config.ts';
import { renderOptionsOf, samplerOptionsOf } from '../src/dataset/patch-file.ts';
import { getAlgorithm } from '../src/synth/algorithms.ts';
import { NoteScratch, renderNote } from '../src/synth/note.ts';
import { samplePatch } from '../src/synth/sampler.ts';

serveTasks<number, number>((data) => {
  const config = data as DatasetConfig;
  const alg = getAlgorithm(config.algorithm);
  const opts = renderOptionsOf(config);
  const sampler = samplerOptionsOf(config);
  const scratch = new NoteScratch(opts);
  return (index) => {
    const note = renderNote(samplePatch(index, sampler).patch, alg, opts, scratch);
    return note[note.length >> 1];
  };
});
