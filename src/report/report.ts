/**
 * The whole report of an evaluation run in one call: the CSV files and the HTML pages, from one
 * summary so that both say the same thing.
 */
import { aggregate } from '../eval/aggregate.ts';
import { buildCsvFiles, writeReportFiles } from './csv.ts';
import { buildHtmlFiles, type HtmlReportInput } from './html.ts';

/** Paths written by `writeReport`, absolute. */
export interface WrittenReport {
  /** notes.csv, `<family>.csv` …, summary.csv, skipped.csv. */
  readonly csv: readonly string[];
  /** index.html, then `<family>.html` …. */
  readonly html: readonly string[];
}

/**
 * Writes `reports/<run>/`-style output into `dir` (created if needed): every CSV file
 * (`buildCsvFiles`) and every HTML page (`buildHtmlFiles`).
 *
 * @param input results, skipped notes, run info and the audio provider; `summary` is computed here
 *   when omitted.
 */
export async function writeReport(dir: string, input: HtmlReportInput): Promise<WrittenReport> {
  const summary = input.summary ?? aggregate(input.results);
  const csv = await writeReportFiles(dir, buildCsvFiles(input.results, input.skipped, summary));
  const html = await writeReportFiles(dir, await buildHtmlFiles({ ...input, summary }));
  return { csv, html };
}
