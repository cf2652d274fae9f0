/**
 * The report folder of an evaluation run as a unit: a run may write only into a folder that is
 * absent, empty or a previous report, and it replaces a previous report whole. Writing file by file
 * over an old report left the old run's `<family>.csv` / `.html` beside the new run's notes.csv
 * (a page of notes this run never evaluated), and an `--out` pointing at a dataset or a model mixed
 * the report into it.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The file that marks a folder as an eval-nsynth report (written last, so a half-written report never has it). */
export const REPORT_MARKER = 'eval-nsynth.json';
/** The marker's `format`. */
export const REPORT_FORMAT = 'fmmatch-eval-nsynth-report';

/**
 * Files every report written before the marker existed has: such a folder is recognised as a
 * previous report too, so that rerunning into an existing `reports/<run>/` keeps working.
 */
const LEGACY_REPORT_FILES = ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html'] as const;

/** What is at a report folder's path now. */
export type ReportFolderState = 'absent' | 'empty' | 'report';

function isReport(dir: string, entries: readonly string[]): boolean {
  if (entries.includes(REPORT_MARKER)) {
    try {
      return (JSON.parse(readFileSync(path.join(dir, REPORT_MARKER), 'utf8')) as { format?: unknown } | null)?.format === REPORT_FORMAT;
    } catch {
      return false;
    }
  }
  return LEGACY_REPORT_FILES.every((f) => entries.includes(f));
}

function checkWritable(dir: string, target: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${target}: ${dir} is not writable`);
  }
}

/**
 * Checks, creating nothing, that a report can be written to `dir`: it is absent (and its nearest
 * existing ancestor a writable folder), an empty folder, or a previous report (marker file, or the
 * four files of a report from before the marker), in a writable parent (it is replaced by a rename).
 * Throws an Error whose message starts with `dir` otherwise.
 *
 * @param dir absolute path
 */
export function checkReportFolder(dir: string): ReportFolderState {
  if (!existsSync(dir)) {
    let at = dir;
    while (!existsSync(at)) {
      const up = path.dirname(at);
      if (up === at) break;
      at = up;
    }
    if (!statSync(at).isDirectory()) throw new Error(`${dir}: ${at} exists and is not a folder`);
    checkWritable(at, dir);
    return 'absent';
  }
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: exists and is a file, not a folder`);
  const entries = readdirSync(dir);
  if (entries.length > 0 && !isReport(dir, entries)) {
    throw new Error(`${dir}: not empty and not an eval-nsynth report (no ${REPORT_MARKER}); choose a new or empty folder, or remove it`);
  }
  checkWritable(path.dirname(dir), dir);
  return entries.length === 0 ? 'empty' : 'report';
}

/**
 * Writes a report into a hidden sibling folder, marks it, and only then puts it in place of `dir`
 * (rename; a previous report is moved aside and removed): no file of an earlier run survives, and a
 * run that fails while writing leaves the previous report as it was.
 *
 * @param dir absolute path, a real path (not through a symbolic link: the rename would replace the link)
 * @param write writes the report's files into the folder it is given (which exists)
 * @param marker extra facts for the marker file (JSON-serialisable)
 * @returns what `write` returned
 */
export async function replaceReportFolder<T>(dir: string, write: (into: string) => Promise<T>, marker: Record<string, unknown> = {}): Promise<T> {
  const parent = path.dirname(dir);
  const tag = `.${path.basename(dir)}.eval-nsynth-${process.pid}`;
  const tmp = path.join(parent, `${tag}.tmp`);
  const old = path.join(parent, `${tag}.old`);
  checkReportFolder(dir);
  // A hidden sibling: on the same file system, so the final rename is atomic.
  mkdirSync(parent, { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  let result: T;
  try {
    result = await write(tmp);
    writeFileSync(path.join(tmp, REPORT_MARKER), `${JSON.stringify({ format: REPORT_FORMAT, ...marker }, null, 2)}\n`);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // Checked again: the run may have lasted hours, and whatever appeared at `dir` meanwhile is not
  // ours to remove. The finished report is kept where it was written, and named.
  try {
    checkReportFolder(dir);
  } catch (e) {
    throw new Error(`${(e as Error).message}; this run's report was left in ${tmp}`);
  }
  if (existsSync(dir)) {
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
  return result;
}
