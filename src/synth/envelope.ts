/**
 * The linear ADSR amplitude envelope applied to the mixed voice (spec §3.3): 0 → 1 over the
 * attack, 1 → sustain over the decay, hold, and from the level reached at note-off down to 0
 * over the release.
 */

/** Envelope times and level. */
export interface AdsrParams {
  /** Attack time, s (> 0). */
  readonly attackSec: number;
  /** Decay time, s (> 0). */
  readonly decaySec: number;
  /** Sustain level, linear amplitude 0 … 1. */
  readonly sustain: number;
  /** Release time, s (> 0). */
  readonly releaseSec: number;
}

/** Level of the held part (no note-off) at time `tSec` ≥ 0. */
function heldLevel(env: AdsrParams, tSec: number): number {
  if (tSec < env.attackSec) return tSec / env.attackSec;
  const td = tSec - env.attackSec;
  if (td < env.decaySec) return 1 + (env.sustain - 1) * (td / env.decaySec);
  return env.sustain;
}

/**
 * Envelope level at time `tSec`, with note-on at 0 and note-off at `noteOffSec`.
 *
 * @returns linear amplitude in [0, 1].
 */
export function adsrLevel(env: AdsrParams, tSec: number, noteOffSec: number): number {
  if (tSec <= 0) return 0;
  if (tSec < noteOffSec) return heldLevel(env, tSec);
  const start = heldLevel(env, noteOffSec);
  const tr = tSec - noteOffSec;
  return tr >= env.releaseSec ? 0 : start * (1 - tr / env.releaseSec);
}

/**
 * Multiplies `signal` in place by the envelope, sample n at time n / sampleRate.
 *
 * @param signal samples at `sampleRate`, modified in place (it is the renderer's own buffer).
 * @param sampleRate Hz.
 * @param noteOffSec note-off time, s.
 */
export function applyAdsrInPlace(signal: Float32Array, env: AdsrParams, sampleRate: number, noteOffSec: number): void {
  const n = signal.length;
  const attackEnd = Math.min(n, Math.ceil(env.attackSec * sampleRate));
  const decayEnd = Math.min(n, Math.ceil((env.attackSec + env.decaySec) * sampleRate));
  const offStart = Math.min(n, Math.ceil(noteOffSec * sampleRate));
  // Segment loops keep the common case (a linear ramp) free of branches; the breakpoints are the
  // first sample at or after each segment boundary, so every sample gets the exact level.
  signal[0] *= 0;
  const invAttack = 1 / (env.attackSec * sampleRate);
  let i = 1;
  const aEnd = Math.min(attackEnd, offStart);
  for (; i < aEnd; i++) signal[i] *= i * invAttack;
  const dEnd = Math.min(decayEnd, offStart);
  const decaySamples = env.decaySec * sampleRate;
  const attackSamples = env.attackSec * sampleRate;
  const drop = env.sustain - 1;
  for (; i < dEnd; i++) signal[i] *= 1 + drop * ((i - attackSamples) / decaySamples);
  for (; i < offStart; i++) signal[i] *= env.sustain;
  const startLevel = heldLevel(env, noteOffSec);
  const releaseSamples = env.releaseSec * sampleRate;
  const offSample = noteOffSec * sampleRate;
  for (; i < n; i++) {
    const r = (i - offSample) / releaseSamples;
    signal[i] *= r >= 1 ? 0 : startLevel * (1 - r);
  }
}
