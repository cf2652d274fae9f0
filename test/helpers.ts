/** Shared test helpers: tolerance comparisons and paths to ../shared. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shared folder beside the repository (fixtures, references). */
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');

const tempDirs: string[] = [];
/**
 * A fresh folder under the system's temporary directory, removed when the test process exits
 * (pass or fail): a test run must not leave its datasets and models behind (they reach 0.8 GB).
 */
export function tempDir(prefix: string): string {
  if (tempDirs.length === 0) process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

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

/** Result of running a pipeline as a user would. */
export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `pipelines/<name>.ts` with node + tsx in the repository root. */
export function runCli(name: string, args: readonly string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `pipelines/${name}.ts`, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Asserts a failed run whose error is one stderr line `<name>: error: …` matching `pattern`, the
 * last thing printed (status lines may precede it), with no stack trace.
 */
export function assertOneLineError(name: string, r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.status, 0, `${name} should fail; stdout: ${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes('nodedir'));
  const errors = lines.filter((l) => l.includes('error'));
  assert.equal(errors.length, 1, `expected one error line on stderr, got:\n${r.stderr}`);
  assert.equal(lines[lines.length - 1], errors[0], 'the error is the last line');
  assert.match(errors[0], new RegExp(`^${name}: error: `));
  assert.match(errors[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** Deterministic pseudo-random samples in [−1, 1) (an LCG: tests never use Math.random). */
export function noise(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a − b| / max |b| (b is the reference); the arrays must have equal lengths. */
export function relMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relMaxError: lengths ${a.length} and ${b.length} differ`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return err / Math.max(scale, 1e-30);
}
