/**
 * A sine lookup table with linear interpolation, indexed in table units (one cycle = `SINE_TABLE_SIZE`).
 * With 4096 entries the interpolation error is at most (2π/4096)²/8 ≈ 2.9e-7 of full scale,
 * far below 16-bit quantisation (1.5e-5), and a lookup costs a fraction of `Math.sin`.
 */

/** Entries per cycle (a power of two so that wrapping is a bit mask). */
export const SINE_TABLE_SIZE = 4096;

/** Bit mask for wrapping a table index. */
export const SINE_TABLE_MASK = SINE_TABLE_SIZE - 1;

/**
 * sin(2π i / SINE_TABLE_SIZE) for i = 0 … SINE_TABLE_SIZE (one guard entry, equal to entry 0, so
 * that `i + 1` never needs wrapping).
 */
export const SINE_TABLE: Float64Array = (() => {
  const t = new Float64Array(SINE_TABLE_SIZE + 1);
  for (let i = 0; i <= SINE_TABLE_SIZE; i++) t[i] = Math.sin((2 * Math.PI * i) / SINE_TABLE_SIZE);
  t[SINE_TABLE_SIZE] = t[0];
  return t;
})();

/**
 * Offset, in table units, that the JS operator loop (fm-kernel.ts) adds to a phase before
 * truncating it with `| 0` (cheaper than `Math.floor`, but it rounds toward zero, so the value
 * must be positive and below 2^31). Its phase accumulators stay in [0, 1) cycle and phase modulation moves them by at most a
 * few cycles (Σβ ≤ 40 rad ≈ 6.4 cycles), far inside these 1024 cycles of headroom.
 */
export const SINE_TABLE_OFFSET = SINE_TABLE_SIZE * 1024;

/** Table units per radian. */
export const TABLE_UNITS_PER_RAD = SINE_TABLE_SIZE / (2 * Math.PI);

/**
 * sin of a phase given in table units (any finite value). Used by the reference renderer; the
 * JS operator loop inlines the same arithmetic.
 */
export function tableSin(phaseUnits: number): number {
  const i = Math.floor(phaseUnits);
  const f = phaseUnits - i;
  // ToInt32 keeps the low 32 bits of any integer below 2^53, so the mask wraps negatives correctly.
  const j = i & SINE_TABLE_MASK;
  const a = SINE_TABLE[j];
  return a + f * (SINE_TABLE[j + 1] - a);
}
