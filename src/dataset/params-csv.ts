/**
 * `params.csv` of a generated dataset: `id,file,<the 15 parameters in PARAM_SPECS order>`, one row
 * per patch, numbers in JavaScript's shortest round-trip form (so a reader recovers the exact
 * float64 the renderer used).
 */
import { stringify } from 'csv-stringify/sync';
import { PARAM_NAMES } from '../synth/params.ts';

/** The header line, with its newline. */
export function paramsCsvHeader(): string {
  return stringify([['id', 'file', ...PARAM_NAMES]]);
}

/** One row, with its newline. `values` in PARAM_SPECS order and units, length 15. */
export function paramsCsvRow(id: string, file: string, values: ArrayLike<number>): string {
  if (values.length !== PARAM_NAMES.length) throw new Error(`a params.csv row needs ${PARAM_NAMES.length} values, got ${values.length}`);
  return stringify([[id, file, ...Array.from(values, (v) => String(v))]]);
}
