/**
 * The two baselines of spec §6 that every resynthesis is measured against, and the improvement
 * figure. The sine-440 baseline is the paper's; the pitched sine is ours and stricter: it already
 * knows the note's pitch and loudness contour, so beating it requires getting the timbre right.
 */
import type { RealInput } from '../dsp/fft.ts';
import { hzOfMidi } from '../features/pitch.ts';

/** Samples before n in the RMS envelope window x[n−32 … n+31] (spec §6). */
export const ENVELOPE_BEFORE = 32;
/** Samples after n in the RMS envelope window. */
export const ENVELOPE_AFTER = 31;

/** MIDI pitch → Hz (equal temperament, A4 = 440 Hz): the features layer's, under the name §6 uses. */
export { hzOfMidi as midiToHz } from '../features/pitch.ts';

/**
 * A sine sin(2π·f·n/sampleRate), n = 0 … length−1: starts at phase 0, full scale (peak 1).
 *
 * @param frequencyHz Hz, ≥ 0.
 * @param sampleRate Hz, > 0.
 * @param length samples.
 * @returns shape [length], in [−1, 1].
 */
export function sine(frequencyHz: number, sampleRate: number, length: number): Float64Array {
  if (!(sampleRate > 0)) throw new Error(`sample rate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(length) || length < 0) throw new Error(`length must be a non-negative integer, got ${length}`);
  const out = new Float64Array(length);
  const w = (2 * Math.PI * frequencyHz) / sampleRate;
  // Phase from the sample index each time (not by accumulation) so that 64 000 samples carry no drift.
  for (let n = 0; n < length; n++) out[n] = Math.sin(w * n);
  return out;
}

/**
 * The paper's baseline: a 440 Hz sine at full scale for the whole note.
 *
 * @param sampleRate Hz; default 16 000.
 * @param length samples; default 64 000 (4 s).
 */
export function sine440Baseline(sampleRate = 16000, length = 64000): Float64Array {
  return sine(440, sampleRate, length);
}

/**
 * Short-time RMS envelope e[n] = sqrt(mean of x[n−32 … n+31]²), the 64-sample window treated as
 * zero outside the signal (the mean always divides by 64), computed with a running sum in O(n).
 *
 * @param x samples, shape [length] (not mutated).
 * @returns shape [length], ≥ 0, same unit as x.
 */
export function rmsEnvelope(x: RealInput, before = ENVELOPE_BEFORE, after = ENVELOPE_AFTER): Float64Array {
  const len = x.length;
  const width = before + after + 1;
  const env = new Float64Array(len);
  // Squares in float64; the running sum is refreshed every block to stop rounding drift from
  // subtraction (which would otherwise leave tiny negative sums in silent stretches).
  const sq = new Float64Array(len);
  for (let i = 0; i < len; i++) sq[i] = x[i] * x[i];
  let sum = 0;
  for (let j = 0; j <= Math.min(after, len - 1); j++) sum += sq[j];
  for (let n = 0; n < len; n++) {
    if (n > 0) {
      const enter = n + after;
      const leave = n - before - 1;
      if (enter < len) sum += sq[enter];
      if (leave >= 0) sum -= sq[leave];
      if (n % 4096 === 0) {
        sum = 0;
        for (let j = Math.max(0, n - before); j <= Math.min(len - 1, n + after); j++) sum += sq[j];
      }
    }
    env[n] = Math.sqrt(Math.max(sum, 0) / width);
  }
  return env;
}

/**
 * Our stricter baseline: a sine at the note's own pitch, shaped by the note's own RMS envelope.
 *
 * @param preparedNote the note after spec §5 preparation (64 000 samples, zero mean, peak 1).
 * @param pitch MIDI pitch from the NSynth metadata.
 * @param sampleRate Hz; default 16 000.
 * @returns shape [length of preparedNote]: sin(2π·f·n/sampleRate)·e[n].
 */
export function pitchedSineBaseline(preparedNote: RealInput, pitch: number, sampleRate = 16000): Float64Array {
  const out = sine(hzOfMidi(pitch), sampleRate, preparedNote.length);
  const env = rmsEnvelope(preparedNote);
  for (let n = 0; n < out.length; n++) out[n] *= env[n];
  return out;
}

/**
 * Improvement of a resynthesis over a baseline: (baseline − resynthesis)/baseline. 1 is a perfect
 * match, 0 no better than the baseline, negative worse. NaN when the baseline distance is 0.
 *
 * @param baselineDistance ≥ 0.
 * @param resynthesisDistance ≥ 0, same metric.
 */
export function improvement(baselineDistance: number, resynthesisDistance: number): number {
  if (baselineDistance === 0) return Number.NaN;
  return (baselineDistance - resynthesisDistance) / baselineDistance;
}
