/**
 * The anti-alias specification for the 48 kHz → 16 kHz decimator (synth-spec §3 step 4), kept in
 * one place so that the design script, the decimator and the tests read the same numbers.
 */

/** Input sample rate, Hz (synth-spec §3 step 1). */
export const INPUT_RATE_HZ = 48_000;
/** Decimation factor: 48 kHz → 16 kHz. */
export const DECIMATION = 3;
/** Upper edge of the band that must stay flat, Hz. */
export const PASSBAND_EDGE_HZ = 7_000;
/** Lower edge of the band that must be attenuated, Hz (the output Nyquist frequency). */
export const STOPBAND_EDGE_HZ = 8_000;
/** Allowed passband ripple, ± dB. */
export const PASSBAND_RIPPLE_DB = 0.1;
/** Required stopband attenuation, dB. */
export const STOPBAND_ATTENUATION_DB = 80;

/** Measured response of a set of taps against the specification. */
export interface AntiAliasMeasurement {
  /** Largest passband gain over 0 … PASSBAND_EDGE_HZ, dB. */
  readonly passbandMaxDb: number;
  /** Smallest passband gain over 0 … PASSBAND_EDGE_HZ, dB. */
  readonly passbandMinDb: number;
  /** Largest gain over STOPBAND_EDGE_HZ … 24 kHz, dB (negative: −80 or below meets the spec). */
  readonly stopbandMaxDb: number;
  /** Frequency of the largest stopband gain, Hz. */
  readonly stopbandPeakHz: number;
}

/**
 * Measures |H(f)| of arbitrary (not necessarily symmetric) taps on a uniform dense grid, by the
 * full complex DTFT, so that it checks the coefficients actually shipped rather than a design.
 *
 * @param taps impulse response at INPUT_RATE_HZ.
 * @param pointsPerKHz grid density; 200 points per kHz resolves ripples far narrower than the
 *   ~300 Hz lobes of a 150-tap filter at 48 kHz.
 */
export function measureAntiAlias(taps: ArrayLike<number>, pointsPerKHz = 200): AntiAliasMeasurement {
  const mag = (hz: number): number => {
    const w = (2 * Math.PI * hz) / INPUT_RATE_HZ;
    let re = 0;
    let im = 0;
    for (let n = 0; n < taps.length; n++) {
      re += taps[n] * Math.cos(w * n);
      im -= taps[n] * Math.sin(w * n);
    }
    return Math.hypot(re, im);
  };
  let pMax = -Infinity;
  let pMin = Infinity;
  const nPass = Math.ceil((PASSBAND_EDGE_HZ / 1000) * pointsPerKHz);
  for (let i = 0; i <= nPass; i++) {
    const a = mag((PASSBAND_EDGE_HZ * i) / nPass);
    pMax = Math.max(pMax, a);
    pMin = Math.min(pMin, a);
  }
  let sMax = 0;
  let sAt = STOPBAND_EDGE_HZ;
  const nyq = INPUT_RATE_HZ / 2;
  const nStop = Math.ceil(((nyq - STOPBAND_EDGE_HZ) / 1000) * pointsPerKHz);
  for (let i = 0; i <= nStop; i++) {
    const hz = STOPBAND_EDGE_HZ + ((nyq - STOPBAND_EDGE_HZ) * i) / nStop;
    const a = mag(hz);
    if (a > sMax) {
      sMax = a;
      sAt = hz;
    }
  }
  const db = (a: number): number => 20 * Math.log10(a);
  return { passbandMaxDb: db(pMax), passbandMinDb: db(pMin), stopbandMaxDb: db(sMax), stopbandPeakHz: sAt };
}

/** Whether a measurement meets the specification. */
export function meetsAntiAliasSpec(m: AntiAliasMeasurement): boolean {
  return (
    m.passbandMaxDb <= PASSBAND_RIPPLE_DB &&
    m.passbandMinDb >= -PASSBAND_RIPPLE_DB &&
    m.stopbandMaxDb <= -STOPBAND_ATTENUATION_DB
  );
}
