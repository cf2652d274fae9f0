/** Shared timing helpers for benchmarks: medians, because the machines are noisy. */

/** Median of a list of numbers (the lower middle for even lengths is not used: the mean of the two). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `fn` `runs` times after `warmup` untimed calls; `fn` gets the call number (warm-up
 * included), e.g. to cycle through inputs. Returns milliseconds per call.
 */
export function timeRuns(fn: (call: number) => void, runs: number, warmup: number): { medianMs: number; minMs: number; runs: number } {
  for (let i = 0; i < warmup; i++) fn(i);
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn(warmup + i);
    t.push(performance.now() - t0);
  }
  return { medianMs: median(t), minMs: Math.min(...t), runs };
}
