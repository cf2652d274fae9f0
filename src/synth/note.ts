/**
 * A whole note as the dataset and the evaluator use it (spec §3): rendered at 48 kHz, low-passed
 * and decimated by 3 to 16 kHz.
 */
import { decimate3 } from '../dsp/resample.ts';
import type { Algorithm } from './algorithms.ts';
import type { Patch } from './params.ts';
import { type RenderOptions, RenderScratch, renderLength, renderVoice } from './render.ts';

/** Reusable buffers for `renderNote`: the 48 kHz voice and the renderer's operator buffers. */
export class NoteScratch {
  readonly voice: Float32Array;
  readonly render: RenderScratch;
  constructor(readonly opts: RenderOptions) {
    const n = renderLength(opts);
    this.voice = new Float32Array(n);
    this.render = new RenderScratch(n);
  }
}

/**
 * Renders `patch` at `opts.sampleRate` (48 kHz) and decimates by 3.
 *
 * @param out optional output of ceil(renderLength / 3) samples.
 * @returns the note at opts.sampleRate / 3, shape [64000] for the paper's render. The anti-alias
 *   filter can overshoot by a few per cent on wide spectra, so values may slightly exceed ±1;
 *   the WAV writer clips and the generator counts such patches.
 */
export function renderNote(patch: Patch, alg: Algorithm, opts: RenderOptions, scratch?: NoteScratch, out?: Float32Array): Float32Array {
  const s = scratch && scratch.opts === opts ? scratch : new NoteScratch(opts);
  renderVoice(patch, alg, opts, s.voice, s.render);
  return decimate3(s.voice, out);
}
