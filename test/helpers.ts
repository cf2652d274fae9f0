/** Shared test helpers: tolerance comparisons and paths to ../shared. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shared folder beside the repository (fixtures, references). */
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');

/** Tolerances: |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  readonly atol?: number;
  readonly rtol?: number;
}

/** Asserts that `actual` is within tolerance of `expected`, naming `what` on failure. */
export function expectClose(actual: number, expected: number, tol: Tolerance, what = 'value'): void {
  const atol = tol.atol ?? 0;
  const rtol = tol.rtol ?? 0;
  const bound = atol + rtol * Math.abs(expected);
  const err = Math.abs(actual - expected);
  if (!(err <= bound)) {
    assert.fail(`${what}: got ${actual}, expected ${expected} (|error| ${err.toExponential(3)} > ${bound.toExponential(3)})`);
  }
}
