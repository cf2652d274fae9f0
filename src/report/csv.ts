/**
 * The CSV files of an evaluation report (issue 5): `notes.csv`, one `<family>.csv` per family,
 * `summary.csv` and `skipped.csv`.
 *
 * Bytes are deterministic: rows in a canonical order (notes by note_str then id, summary as
 * `aggregate` returns it, skips by id then reason, all in code-unit order, never locale order),
 * numbers in shortest round-trip form (`csvNumber`), `\n` line endings, RFC 4180 quoting by
 * csv-stringify. Missing values (a system not run on a note, an undefined std) are empty cells.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { aggregate, carrierCentsFromPitch, compareCodeUnits, compareFamilies, SYSTEM_ORDER, sortResults } from '../eval/aggregate.ts';
import { BASELINES, METRICS, type NoteResult, type SkippedNote, type SummaryRow, type SystemName } from '../eval/types.ts';
import { PARAM_NAMES } from '../synth/params.ts';
import { csvNumber, familyFileStem } from './format.ts';

/** Metadata columns at the head of notes.csv and the family files. */
export const NOTE_META_COLUMNS: readonly string[] = Object.freeze(['note_str', 'instrument_str', 'family', 'source', 'pitch', 'velocity']);

/** A column of notes.csv: its header and how to read its cell from a result. */
interface NoteColumn {
  readonly header: string;
  readonly cell: (r: NoteResult) => string;
}

/** One written or to-be-written report file: its name inside the report folder and its text. */
export interface ReportFile {
  /** File name, no directory part, e.g. `notes.csv`, `guitar.csv`. */
  readonly name: string;
  readonly content: string;
}

/**
 * The columns of notes.csv for a set of results. Metadata first; then, per system present
 * (SYSTEM_ORDER), its four distances (`cnn_fft` … `cnn_logmel_normalized`); then, per system that
 * has them, its 15 predicted (`cnn_pred_carrier_hz` …) and 15 snapped (`cnn_snap_carrier_hz` …)
 * parameters in PARAM_SPECS order and units. Distances come before parameters because they are
 * what a reader compares first. The column set depends on the whole result set, so every family
 * file has the same columns as notes.csv.
 */
function noteColumns(results: readonly NoteResult[]): NoteColumn[] {
  const columns: NoteColumn[] = [
    { header: 'note_str', cell: (r) => r.meta.note_str },
    { header: 'instrument_str', cell: (r) => r.meta.instrument_str },
    { header: 'family', cell: (r) => r.meta.instrument_family_str },
    { header: 'source', cell: (r) => r.meta.instrument_source_str },
    { header: 'pitch', cell: (r) => csvNumber(r.meta.pitch) },
    { header: 'velocity', cell: (r) => csvNumber(r.meta.velocity) },
  ];
  const has = (s: SystemName, pick: (r: NoteResult) => unknown): boolean => results.some((r) => pick(r) !== undefined);
  for (const s of SYSTEM_ORDER) {
    if (!has(s, (r) => r.distances[s])) continue;
    for (const m of METRICS) columns.push({ header: `${s}_${m}`, cell: (r) => csvNumber(r.distances[s]?.[m]) });
  }
  // Where each FM patch put its carrier relative to the note's pitch (signed cents).
  for (const s of SYSTEM_ORDER) {
    if (has(s, (r) => r.snapped[s])) columns.push({ header: `${s}_carrier_cents_from_pitch`, cell: (r) => csvNumber(carrierCentsFromPitch(r, s)) });
  }
  for (const s of SYSTEM_ORDER) {
    for (const [kind, pick] of [
      ['pred', (r: NoteResult) => r.predicted[s]],
      ['snap', (r: NoteResult) => r.snapped[s]],
    ] as const) {
      if (!has(s, pick)) continue;
      PARAM_NAMES.forEach((name, i) => columns.push({ header: `${s}_${kind}_${name}`, cell: (r) => csvNumber(pick(r)?.[i]) }));
    }
  }
  return columns;
}

/** Checks the parameter vectors' length, so a wrong-shaped model output cannot shift columns silently. */
function checkParamVectors(results: readonly NoteResult[]): void {
  for (const r of results) {
    for (const [kind, bySystem] of [['predicted', r.predicted], ['snapped', r.snapped]] as const) {
      for (const s of SYSTEM_ORDER) {
        const v = bySystem[s];
        if (v !== undefined && v.length !== PARAM_NAMES.length) {
          throw new Error(`note ${r.meta.note_str}: ${s} ${kind} parameters have length ${v.length}, expected ${PARAM_NAMES.length}`);
        }
      }
    }
  }
}

function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return stringify([header as string[], ...(rows as string[][])], { record_delimiter: 'unix' });
}

/**
 * notes.csv (or a family file): one row per note, columns as described at `noteColumns`.
 *
 * @param results the rows to write (not mutated), written in note_str order.
 * @param columnsFrom the result set that fixes the columns (default `results`); pass all results
 *   when writing one family so that its file has the same columns as notes.csv.
 */
export function notesCsv(results: readonly NoteResult[], columnsFrom: readonly NoteResult[] = results): string {
  checkParamVectors(results);
  const columns = noteColumns(columnsFrom);
  return toCsv(
    columns.map((c) => c.header),
    sortResults(results).map((r) => columns.map((c) => c.cell(r))),
  );
}

/**
 * summary.csv: `group,system,notes`, then `<metric>_mean,<metric>_std` for each metric, then
 * `improvement_vs_<baseline>_<metric>` for each baseline and metric, as a fraction (0.5334 =
 * 53.34 %; empty for a baseline against itself). std is the sample standard deviation (n − 1),
 * empty for a single note. Rows in the order given (`aggregate`: overall first).
 */
export function summaryCsv(rows: readonly SummaryRow[]): string {
  const header = ['group', 'system', 'notes'];
  for (const m of METRICS) header.push(`${m}_mean`, `${m}_std`);
  for (const b of BASELINES) for (const m of METRICS) header.push(`improvement_vs_${b}_${m}`);
  const body = rows.map((row) => {
    const cells = [row.group, row.system, csvNumber(row.notes)];
    for (const m of METRICS) cells.push(csvNumber(row.stats[m].mean), csvNumber(row.stats[m].std));
    for (const b of BASELINES) for (const m of METRICS) cells.push(csvNumber(row.improvement[b]?.[m]));
    return cells;
  });
  return toCsv(header, body);
}

/** skipped.csv: `id,reason`, sorted by id then reason (code-unit order). */
export function skippedCsv(skipped: readonly SkippedNote[]): string {
  const rows = skipped
    .slice()
    .sort((a, b) => compareCodeUnits(a.id, b.id) || compareCodeUnits(a.reason, b.reason))
    .map((s) => [s.id, s.reason]);
  return toCsv(['id', 'reason'], rows);
}

/**
 * Every CSV file of a report, in a fixed order: notes.csv, one `<family>.csv` per family (NSynth
 * id order; file stem from `familyFileStem`), summary.csv, skipped.csv.
 *
 * @param summary the rows of `aggregate(results)`; computed here when omitted.
 */
export function buildCsvFiles(results: readonly NoteResult[], skipped: readonly SkippedNote[], summary?: readonly SummaryRow[]): ReportFile[] {
  const files: ReportFile[] = [{ name: 'notes.csv', content: notesCsv(results) }];
  const families = [...new Set(results.map((r) => r.meta.instrument_family_str))].sort(compareFamilies);
  for (const family of families) {
    const rows = results.filter((r) => r.meta.instrument_family_str === family);
    files.push({ name: `${familyFileStem(family)}.csv`, content: notesCsv(rows, results) });
  }
  files.push({ name: 'summary.csv', content: summaryCsv(summary ?? aggregate(results)) });
  files.push({ name: 'skipped.csv', content: skippedCsv(skipped) });
  return files;
}

/**
 * Writes report files into a folder (created if needed), overwriting files of the same names.
 *
 * @returns the absolute paths written, in the order given.
 */
export async function writeReportFiles(dir: string, files: readonly ReportFile[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of files) {
    if (path.basename(f.name) !== f.name || f.name.startsWith('.')) throw new Error(`report file name ${JSON.stringify(f.name)} is not a plain file name`);
    const p = path.resolve(dir, f.name);
    await writeFile(p, f.content);
    written.push(p);
  }
  return written;
}
