/** The command-line helpers: progress ETA formatting, argument parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Argv } from 'yargs';
import { parseArgs } from '../src/cli/args.ts';
import { formatEta } from '../src/cli/progress.ts';
import { UserError } from '../src/cli/run.ts';

test('formatEta rounds once: no "1m60s", hours past 60 minutes, "?" for unknown', () => {
  assert.equal(formatEta(119.6), '2m00s');
  assert.equal(formatEta(59.6), '1m00s');
  assert.equal(formatEta(59.4), '59s');
  assert.equal(formatEta(125), '2m05s');
  assert.equal(formatEta(3599.7), '1h00m');
  assert.equal(formatEta(3600 + 7 * 60 + 20), '1h07m');
  assert.equal(formatEta(0), '0s');
  assert.equal(formatEta(Number.NaN), '?');
  assert.equal(formatEta(-1), '?');
  assert.equal(formatEta(Number.POSITIVE_INFINITY), '?');
});

test('parseArgs: an option that takes a value refuses to be given none (it would fall back to its default)', async () => {
  const configure = (y: Argv) => y.option('seed', { type: 'number', default: 0 }).option('out', { type: 'string' }).option('extra', { type: 'array', default: [] }).option('quiet', { type: 'boolean', default: false });
  await assert.rejects(parseArgs(['--seed', '--out', 'x'], 'cmd', 'usage', configure), (e: unknown) => e instanceof UserError && e.message === '--seed needs a value');
  await assert.rejects(parseArgs(['--out'], 'cmd', 'usage', configure), /--out needs a value/);
  await assert.rejects(parseArgs(['--extra'], 'cmd', 'usage', configure), /--extra needs a value/);
  // The `--key=` form with nothing after it (yargs would read 0 or '').
  await assert.rejects(parseArgs(['--seed='], 'cmd', 'usage', configure), /--seed needs a value/);
  await assert.rejects(parseArgs(['--out='], 'cmd', 'usage', configure), /--out needs a value/);
  assert.equal((await parseArgs(['--seed=4'], 'cmd', 'usage', configure))?.seed, 4);
  // Text where a number belongs is named, not reported later as NaN; negative numbers are numbers.
  await assert.rejects(parseArgs(['--seed', 'abc'], 'cmd', 'usage', configure), /--seed must be a number, got 'abc'/);
  await assert.rejects(parseArgs(['--seed=1e'], 'cmd', 'usage', configure), /--seed must be a number, got '1e'/);
  assert.equal((await parseArgs(['--seed', '-40'], 'cmd', 'usage', configure))?.seed, -40);
  const ok = await parseArgs(['--seed', '3', '--quiet', '--extra', 'a', 'b'], 'cmd', 'usage', configure);
  assert.equal(ok?.seed, 3);
  assert.equal(ok?.quiet, true);
  assert.deepEqual(ok?.extra, ['a', 'b']);
  assert.equal((await parseArgs([], 'cmd', 'usage', configure))?.seed, 0, 'defaults still apply when the option is absent');
});
