/**
 * The report folder of an evaluation run as a unit: a run may write only into a folder that is
 * absent, empty or a previous report, and it replaces a previous report whole. Writing file by file
 * over an old report left the old run's `<family>.csv` / `.html` beside the new run's notes.csv
 * (a page of notes this run never evaluated), and an `--out` pointing at a dataset or a model mixed
 * the report into it.
 *
 * A previous report is removed entry by entry, and only when every entry in it is one a report
 * writes: the marker lists them. A folder that once held a report and then got other things (other
 * reports in subfolders, a user's notes) is refused, not emptied.
 */
import { accessSync, constants, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NSYNTH_FAMILIES } from '../nsynth/types.ts';
import { familyFileStem } from './format.ts';

/** The file that marks a folder as an eval-nsynth report (written last, so a half-written report never has it). */
export const REPORT_MARKER = 'eval-nsynth.json';
/** The marker's `format`. */
export const REPORT_FORMAT = 'fmmatch-eval-nsynth-report';

/**
 * Files every report written before the marker existed has: such a folder is recognised as a
 * previous report too, so that rerunning into an existing `reports/<run>/` keeps working.
 */
const LEGACY_REPORT_FILES = ['notes.csv', 'summary.csv', 'skipped.csv', 'index.html'] as const;
/**
 * Top-level files a report written before the marker listed its files could hold: the fixed files
 * and one CSV + page per NSynth family (the only families a note may have, `src/nsynth/meta.ts`).
 */
const LEGACY_TOP_FILES: ReadonlySet<string> = new Set([
  REPORT_MARKER,
  ...LEGACY_REPORT_FILES,
  ...NSYNTH_FAMILIES.flatMap((f) => [`${familyFileStem(f)}.csv`, `${familyFileStem(f)}.html`]),
]);
/** `--write-audio`'s files in `audio/`: `<note_str>.<system>.wav` (pipelines/eval-nsynth.ts). */
const LEGACY_AUDIO_FILE = /^audio\/[^/]+\.(cnn|cnn_pitch|cnn_refined|ddx7)\.wav$/;

/** Whether `entry` (as {@link listEntries} names it) is one a report writes. */
function reportWrites(entry: string): boolean {
  return LEGACY_TOP_FILES.has(entry) || entry === 'audio/' || LEGACY_AUDIO_FILE.test(entry);
}

/** What is at a report folder's path now. */
export type ReportFolderState = 'absent' | 'empty' | 'report';

/**
 * Every entry under `dir`, as paths relative to it with `/` separators, folders with a trailing `/`,
 * sorted, a folder before its contents; anything neither a file nor a folder (a symbolic link, a
 * socket) with a trailing `@` (no report writes one).
 */
function listEntries(dir: string, prefix = '', skip: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, prefix)).sort()) {
    if (prefix === '' && skip.has(name)) continue;
    const rel = `${prefix}${name}`;
    const st = lstatSync(path.join(dir, rel));
    if (st.isDirectory()) {
      out.push(`${rel}/`);
      out.push(...listEntries(dir, `${rel}/`));
    } else {
      out.push(st.isFile() ? rel : `${rel}@`);
    }
  }
  return out;
}

/** How a folder reads as a report: not one, or one whose entries are all (`foreign` null) or not all a report's. */
type ReportReading = { readonly report: false } | { readonly report: true; readonly entries: readonly string[]; readonly foreign: string | null };

/** `dir` read as a report, its top-level names in `skip` (this run's hidden folders inside it) left out. */
function readReport(dir: string, skip: ReadonlySet<string> = new Set()): ReportReading {
  const top = readdirSync(dir).filter((n) => !skip.has(n));
  let allowed: (entry: string) => boolean;
  if (top.includes(REPORT_MARKER)) {
    let marker: { format?: unknown; files?: unknown } | null;
    try {
      marker = JSON.parse(readFileSync(path.join(dir, REPORT_MARKER), 'utf8')) as { format?: unknown; files?: unknown } | null;
    } catch {
      return { report: false };
    }
    if (marker?.format !== REPORT_FORMAT) return { report: false };
    if (marker.files === undefined) {
      // A report from before the marker listed its files.
      allowed = reportWrites;
    } else {
      if (!Array.isArray(marker.files) || !marker.files.every((f) => typeof f === 'string')) return { report: false };
      // Listed and of a name a report writes: an edited or copied marker cannot make a user's file
      // (thesis.tex) removable by listing it.
      const listed = new Set<string>([REPORT_MARKER, ...(marker.files as string[])]);
      allowed = (e) => listed.has(e) && reportWrites(e);
    }
  } else {
    if (!LEGACY_REPORT_FILES.every((f) => top.includes(f))) return { report: false };
    allowed = reportWrites;
  }
  const entries = listEntries(dir, '', skip);
  // A symbolic link (or socket, …) is never a report's, whatever a marker lists (a file named `x@`
  // and a link named `x` list alike).
  return { report: true, entries, foreign: entries.find((e) => e.endsWith('@') || !allowed(e)) ?? null };
}

function checkWritable(dir: string, target: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${target}: ${dir} is not writable`);
  }
}

/** The nearest ancestor of `dir` (or `dir`) that exists; a symbolic link to nothing on the way is an error. */
function nearestExisting(dir: string): string {
  let at = dir;
  while (!existsSync(at)) {
    let dangling = false;
    try {
      dangling = lstatSync(at).isSymbolicLink();
    } catch {
      // Nothing at all there: go up.
    }
    if (dangling) throw new Error(`${dir}: ${at} is a symbolic link to a missing target`);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  return at;
}

/**
 * The real path a report folder would have: `dir` through every symbolic link, also when `dir`
 * does not exist yet (its nearest existing ancestor resolved, the rest appended). A report is put
 * in place by a rename, which would replace a link instead of writing where it points; and whether
 * `dir` lies inside another folder can only be told from real paths.
 *
 * @param dir absolute path
 * @throws an Error whose message starts with `dir` when `dir` or an ancestor is a symbolic link to
 *   a missing target (a rename would replace the link).
 */
export function realReportPath(dir: string): string {
  const at = nearestExisting(dir);
  return path.join(realpathSync(at), path.relative(at, dir));
}

/**
 * Whether `dir` (existing or not) is `folder` or lies inside it, decided by the file system's
 * identity of each existing ancestor (device and inode), not by comparing path strings: a
 * case-insensitive file system (macOS) or a bind mount gives one folder several spellings.
 */
export function isWithinFolder(dir: string, folder: string): boolean {
  const target = statSync(folder);
  if (!target.isDirectory()) return false;
  let at = nearestExisting(dir);
  for (;;) {
    const st = statSync(at);
    if (st.dev === target.dev && st.ino === target.ino) return true;
    const up = path.dirname(at);
    if (up === at) return false;
    at = up;
  }
}

/**
 * Checks, creating nothing, that a report can be written to `dir`: it is absent (and its nearest
 * existing ancestor a writable folder), an empty folder, or a previous report holding nothing a
 * report does not write (every entry listed in its marker file; for a report from before the marker
 * listed them, the files and `audio/` WAVs a report writes, and for one from before the marker, also
 * the four files notes.csv, summary.csv, skipped.csv and index.html), in a writable parent (it is
 * replaced by a rename), or itself writable when it is a mount point or its parent is read-only (it
 * is then replaced inside). Throws an Error whose message starts with `dir` and names the first
 * entry that is not a report's otherwise.
 *
 * @param dir absolute path, a real path (`realReportPath`)
 */
export function checkReportFolder(dir: string): ReportFolderState {
  const at = nearestExisting(dir);
  if (at !== dir) {
    if (!statSync(at).isDirectory()) throw new Error(`${dir}: ${at} exists and is not a folder`);
    checkWritable(at, dir);
    return 'absent';
  }
  if (lstatSync(dir).isSymbolicLink()) throw new Error(`${dir}: is a symbolic link; give the folder it points to`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: exists and is a file, not a folder`);
  const top = readdirSync(dir).sort();
  if (top.length > 0) {
    const r = readReport(dir);
    if (!r.report) {
      throw new Error(`${dir}: not empty and not an eval-nsynth report (no ${REPORT_MARKER}; it holds ${top[0]}); choose a new or empty folder, or remove it`);
    }
    if (r.foreign !== null) {
      throw new Error(`${dir}: an eval-nsynth report, but it also holds ${r.foreign.replace(/[/@]$/, '')}, which no report writes; a report is replaced whole, so move that out or choose another folder`);
    }
  }
  // An empty folder, and a report that renames in its parent cannot replace, are written in place
  // (the folder's own write permission matters); any other report is replaced by renames in its parent.
  checkWritable(top.length === 0 || replacedInPlace(dir) ? dir : path.dirname(dir), dir);
  return top.length === 0 ? 'empty' : 'report';
}

/**
 * Whether `dir` is a mount point (or the root), which can be neither renamed nor replaced (EBUSY),
 * only written into. A Docker volume mounted at `/reports` and given as `--out /reports` is one.
 * Told by another device than its parent's; a bind mount from the same file system has the same
 * device, so on Linux the mount table (`/proc/self/mountinfo`) is asked as well.
 *
 * @param dir absolute real path of an existing folder
 */
export function isMountPoint(dir: string): boolean {
  const parent = path.dirname(dir);
  if (parent === dir) return true;
  const st = statSync(dir);
  const up = statSync(parent);
  if (st.dev !== up.dev || st.ino === up.ino) return true;
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  return mountPointsOf(table).includes(dir);
}

/**
 * The mount points a `/proc/self/mountinfo` text lists: field 5 of each line, with its octal
 * escapes (`\040` for a space, …) decoded.
 */
export function mountPointsOf(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Whether a previous report at `dir` must be replaced inside the folder: it is a mount point or its parent is read-only. */
function replacedInPlace(dir: string, mountPoint: (dir: string) => boolean = isMountPoint): boolean {
  if (mountPoint(dir)) return true;
  try {
    accessSync(path.dirname(dir), constants.W_OK);
    return false;
  } catch {
    return true;
  }
}

/**
 * Removes a previous report that has been moved aside to `old`, entry by entry, and only the
 * entries a report writes (`readReport`): a folder that is then not empty is left, named.
 */
function removeOldReport(old: string, dir: string): void {
  const r = readReport(old);
  if (!r.report || r.foreign !== null) {
    throw new Error(`${dir}: the new report is in place, but the previous one (moved to ${old}) ${r.report ? `now also holds ${r.foreign}` : 'is no longer a report'}: left there, not removed`);
  }
  try {
    // Contents before their folder: reversed, the sorted list has every folder after its entries.
    for (const e of [...r.entries].reverse()) {
      if (e.endsWith('/')) rmdirSync(path.join(old, e));
      else unlinkSync(path.join(old, e));
    }
    rmdirSync(old);
  } catch (e) {
    throw new Error(`${dir}: the new report is in place, but removing the previous one (moved to ${old}) failed: ${(e as Error).message}; what is left of it is there`);
  }
}

/** Writes the report into `into` and then its marker, listing what was written; removes `into` if writing fails. */
async function writeMarked<T>(into: string, write: (into: string) => Promise<T>, marker: Record<string, unknown>): Promise<T> {
  try {
    const result = await write(into);
    const files = listEntries(into).filter((e) => e !== REPORT_MARKER);
    writeFileSync(path.join(into, REPORT_MARKER), `${JSON.stringify({ format: REPORT_FORMAT, ...marker, files }, null, 2)}\n`);
    return result;
  } catch (e) {
    rmSync(into, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The report written in place, into a folder that exists and is empty or holds a previous report
 * that renames in its parent cannot replace (`replacedInPlace`): written into a hidden folder inside
 * it; then the previous report's entries (its marker first) are moved into a second hidden folder,
 * this run's entries moved up, its marker last, and the previous report removed entry by entry. A
 * move cut short is taken back, and a folder never holds a marker beside files of another run.
 * Filling the folder instead of replacing it keeps its mode, owner and identity: `--out .` leaves
 * the shell in the report, and a mount point or a folder in a read-only parent works.
 */
async function writeInPlace<T>(dir: string, write: (into: string) => Promise<T>, marker: Record<string, unknown>, fs: ReportFolderFs, previous: boolean): Promise<T> {
  const tmp = mkdtempSync(path.join(dir, '.eval-nsynth-'));
  const result = await writeMarked(tmp, write, marker);
  // Checked again: whatever appeared in the folder meanwhile is not ours to mix a report into, nor
  // to remove.
  const ours = new Set([path.basename(tmp)]);
  let oldNames: string[] = [];
  if (!previous) {
    const other = readdirSync(dir).sort().find((n) => !ours.has(n));
    if (other !== undefined) throw new Error(`${dir}: was empty when this run started and now holds ${other}; this run's report was left in ${tmp}`);
  } else {
    const r = readReport(dir, ours);
    if (!r.report) throw new Error(`${dir}: held an eval-nsynth report when this run started and no longer does; this run's report was left in ${tmp}`);
    if (r.foreign !== null) throw new Error(`${dir}: an eval-nsynth report, but it now also holds ${r.foreign.replace(/[/@]$/, '')}, which no report writes; this run's report was left in ${tmp}`);
    const names = new Set(r.entries.map((e) => e.split('/')[0] as string));
    // The marker first: a folder whose marker is gone is not taken for a complete report.
    oldNames = names.has(REPORT_MARKER) ? [REPORT_MARKER, ...[...names].filter((n) => n !== REPORT_MARKER)] : [...names];
  }
  const old = previous ? mkdtempSync(path.join(dir, '.eval-nsynth-old-')) : null;
  const moves: [string, string][] = [
    ...oldNames.map((n): [string, string] => [path.join(dir, n), path.join(old as string, n)]),
    ...[...readdirSync(tmp).filter((n) => n !== REPORT_MARKER).sort(), REPORT_MARKER].map((n): [string, string] => [path.join(tmp, n), path.join(dir, n)]),
  ];
  const moved: [string, string][] = [];
  try {
    for (const [from, to] of moves) {
      fs.renameSync(from, to);
      moved.push([from, to]);
    }
  } catch (e) {
    const why = (e as Error).message;
    try {
      for (const [from, to] of moved.reverse()) fs.renameSync(to, from);
    } catch (back) {
      throw new Error(`${dir}: could not move this run's report there (${why}) nor take back what had moved (${(back as Error).message}); the rest is in ${tmp}${old ? `, the previous report's in ${old}` : ''}`);
    }
    if (old) rmdirSync(old);
    throw new Error(`${dir}: could not move this run's report there (${why}); ${old ? "the previous report is back, this run's is" : "it holds nothing but this run's report,"} in ${tmp}`);
  }
  rmdirSync(tmp);
  if (old) removeOldReport(old, dir);
  return result;
}

/** File-system calls `replaceReportFolder` makes that a test may make fail. */
export interface ReportFolderFs {
  readonly renameSync: (from: string, to: string) => void;
  /** Whether a folder is a mount point (default {@link isMountPoint}). */
  readonly isMountPoint?: (dir: string) => boolean;
}

/**
 * Writes a report into a fresh hidden sibling folder (`mkdtemp`, so no other run uses its name),
 * marks it with the list of what was written, and only then puts it in place of `dir` (rename; a
 * previous report is moved aside and then removed entry by entry): no file of an earlier run
 * survives, nothing else is removed, and a run that fails while writing leaves the previous report
 * as it was. A folder that exists and is empty, and a previous report that is a mount point or in
 * a read-only parent, are written in place instead (`writeInPlace`).
 *
 * @param dir absolute path, a real path (`realReportPath`: the rename would replace a link)
 * @param write writes the report's files into the folder it is given (which exists)
 * @param marker extra facts for the marker file (JSON-serialisable)
 * @param fs for tests: the rename to use, and which folders count as mount points
 * @returns what `write` returned
 */
export async function replaceReportFolder<T>(dir: string, write: (into: string) => Promise<T>, marker: Record<string, unknown> = {}, fs: ReportFolderFs = { renameSync }): Promise<T> {
  const parent = path.dirname(dir);
  const state = checkReportFolder(dir);
  if (state === 'empty') return writeInPlace(dir, write, marker, fs, false);
  if (state === 'report' && replacedInPlace(dir, fs.isMountPoint)) return writeInPlace(dir, write, marker, fs, true);
  // A hidden sibling: on the same file system, so the final rename is atomic.
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(path.join(parent, `.${path.basename(dir)}.eval-nsynth-`));
  // mkdtemp's random suffix never ends in `.old`, so no other run's folder has this name.
  const old = `${tmp}.old`;
  const result = await writeMarked(tmp, write, marker);
  // Checked again: the run may have lasted hours, and whatever appeared at `dir` meanwhile is not
  // ours to remove. The finished report is kept where it was written, and named.
  try {
    checkReportFolder(dir);
  } catch (e) {
    throw new Error(`${(e as Error).message}; this run's report was left in ${tmp}`);
  }
  if (!existsSync(dir)) {
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      throw new Error(`${dir}: could not move this run's report there (${(e as Error).message}); it is in ${tmp}`);
    }
    return result;
  }
  try {
    fs.renameSync(dir, old);
  } catch (e) {
    throw new Error(`${dir}: could not move the previous report aside (${(e as Error).message}); it is still there, this run's report is in ${tmp}`);
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    const why = (e as Error).message;
    try {
      fs.renameSync(old, dir);
    } catch (back) {
      throw new Error(`${dir}: could not move this run's report there (${why}) nor the previous report back (${(back as Error).message}); the previous report is in ${old}, this run's in ${tmp}`);
    }
    throw new Error(`${dir}: could not move this run's report there (${why}); the previous report is back at ${dir}, this run's is in ${tmp}`);
  }
  removeOldReport(old, dir);
  return result;
}
