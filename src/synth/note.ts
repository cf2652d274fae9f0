/**
 * A whole note as the dataset and the evaluator use it (spec §3): rendered at 48 kHz, low-passed
 * and decimated by 3 to 16 kHz.
 */
import { decimate3 } from '../dsp/resample.ts';
import type { Algorithm } from './algorithms.ts';
import type { Patch } from './params.ts';
import { type RenderOptions, RenderScratch, renderLength, renderVoice } from './render.ts';

/**
 * Reusable buffers for `renderNote`: the 48 kHz voice and the renderer's operator buffers (in the
 * operator kernel's memory: `dispose()` returns them).
 */
export class NoteScratch {
  readonly voice: Float32Array;
  readonly render: RenderScratch;
  constructor(readonly opts: RenderOptions) {
    const n = renderLength(opts);
    this.voice = new Float32Array(n);
    this.render = new RenderScratch(n);
  }
  /** Returns the operator buffers to the kernel; the scratch must not be used afterwards. */
  dispose(): void {
    this.render.dispose();
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
  // The buffers depend only on the render's length: a scratch made from equal options (a separate
  // object, as callers that derive options per call pass) is reused, not replaced by a fresh one.
  const temporary = !(scratch && renderLength(scratch.opts) === renderLength(opts));
  const s = temporary ? new NoteScratch(opts) : (scratch as NoteScratch);
  try {
    renderVoice(patch, alg, opts, s.voice, s.render);
  } finally {
    // Wasm memory is not JS-heap pressure, so a finaliser alone could let it grow for long.
    if (temporary) s.dispose();
  }
  return decimate3(s.voice, out);
}
