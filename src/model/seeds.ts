/**
 * Seeds for the random draws of one training step (dropout masks), derived from the run's seed and
 * the step's position, so that runs repeat bit for bit and a resumed run draws what the
 * uninterrupted one would have.
 */

/**
 * 32-bit FNV-1a hash of the parts joined by '/': a seed for tfjs's seeded random ops.
 *
 * @returns an integer 0 … 2³² − 1
 */
export function stepSeed(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('/')) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193) >>> 0;
  return h;
}
