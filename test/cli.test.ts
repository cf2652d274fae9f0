/** The command-line helpers: progress ETA formatting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEta } from '../src/cli/progress.ts';

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
