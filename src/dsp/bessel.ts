/**
 * The Bessel function of the first kind of order 0. In phase modulation sin(ωc·t + β·sin(ωm·t)) the
 * component at the carrier's own frequency has amplitude J0(β) (spec §2), so J0 says how much of a
 * patch's energy stays at the carrier: none at β ≈ 2.405 and 5.520, its first zeros.
 */

/**
 * J0(x). Power series Σ (−x²/4)^k / (k!)² up to |x| = 20 (terms grow to ≈ 10⁷ there, so about 1e-9
 * absolute accuracy; better than 1e-13 for |x| ≤ 8, the modulation indices' range), the first
 * terms of the Hankel asymptotic expansion beyond (error below 1e-9 there).
 *
 * @param x argument (any finite real; J0 is even)
 * @returns J0(x), in [−0.41, 1]
 */
export function besselJ0(x: number): number {
  const a = Math.abs(x);
  if (a <= 20) {
    const q = -(a * a) / 4;
    let term = 1;
    let sum = 1;
    for (let k = 1; k < 200; k++) {
      term *= q / (k * k);
      sum += term;
      if (Math.abs(term) < 1e-17 * Math.max(1, Math.abs(sum))) break;
    }
    return sum;
  }
  // Hankel: J0(x) ≈ sqrt(2/(πx))·(P·cos χ − Q·sin χ), χ = x − π/4, with P and Q to their 1/x⁴ and 1/x⁵ terms.
  const z = 1 / (8 * a);
  const z2 = z * z;
  const p = 1 - (9 / 2) * z2 + (3675 / 8) * z2 * z2;
  const qq = -z + (75 / 2) * z2 * z - (59535 / 8) * z2 * z2 * z;
  const chi = a - Math.PI / 4;
  return Math.sqrt(2 / (Math.PI * a)) * (p * Math.cos(chi) - qq * Math.sin(chi));
}
