/**
 * Fetching NSynth from Magenta's download host: an HTTP(S) download that survives interruptions
 * (resumed with a Range request, at most `maxAttempts` tries), checks the size against
 * Content-Length / Content-Range, extracts the jsonwav archive and validates the result.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import * as tar from 'tar';
import { openJsonwav } from './jsonwav.ts';
import { openTfrecord } from './tfrecord.ts';

/** NSynth splits. */
export type NsynthSplit = 'train' | 'valid' | 'test';
/** The two official forms of a split. */
export type NsynthForm = 'jsonwav' | 'tfrecord';

/** Notes per official split (nsynth-format.md), checked after an official download. */
export const NSYNTH_SPLIT_NOTES: Readonly<Record<NsynthSplit, number>> = Object.freeze({ train: 289205, valid: 12678, test: 4096 });

/** Magenta's host (plain HTTP is what the dataset page links). */
export const NSYNTH_BASE_URL = 'http://download.magenta.tensorflow.org/datasets/nsynth';

/** File name of a split in a form on the official host, e.g. `nsynth-test.jsonwav.tar.gz`. */
export function nsynthFileName(split: NsynthSplit, form: NsynthForm): string {
  return `nsynth-${split}.${form === 'jsonwav' ? 'jsonwav.tar.gz' : 'tfrecord'}`;
}

/** The official URL of a split in a form. */
export function nsynthUrl(split: NsynthSplit, form: NsynthForm): string {
  return `${NSYNTH_BASE_URL}/${nsynthFileName(split, form)}`;
}

/** A download or extraction failure; the message is one line naming the URL or file. */
export class DownloadError extends Error {}

/** Options of `downloadFile`. */
export interface DownloadOptions {
  /** http: or https: URL. */
  readonly url: string;
  /** Final file. The partial download is `<dest>.part` (+ `<dest>.part.json`), renamed on success. */
  readonly dest: string;
  /** Called as bytes arrive: bytes on disk so far, and the total (null while unknown). */
  readonly onProgress?: (doneBytes: number, totalBytes: number | null) => void;
  /** Requests tried before giving up (default 5); each retry resumes where the last stopped. */
  readonly maxAttempts?: number;
  /** Wait before the first retry, ms (default 1000), doubled each time. */
  readonly retryDelayMs?: number;
  /** A connection silent this long is dropped and retried, ms (default 30 000). */
  readonly idleTimeoutMs?: number;
  /** Stops the download (the partial file is kept for a later resume). */
  readonly signal?: AbortSignal;
}

/** What `downloadFile` did. */
export interface DownloadResult {
  /** Size of the finished file, bytes. */
  readonly bytes: number;
  /** Requests made (1 when nothing went wrong). */
  readonly attempts: number;
  /** Bytes already on disk from an earlier run when this one started. */
  readonly resumedFromBytes: number;
}

/** Kept beside the partial file so that a resume asks for the same thing it started. */
interface PartInfo {
  readonly url: string;
  readonly totalBytes: number | null;
  readonly etag: string | null;
  readonly lastModified: string | null;
}

const MAX_REDIRECTS = 5;

async function sizeOf(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

async function readPartInfo(file: string): Promise<PartInfo | null> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as PartInfo;
    return typeof v.url === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Parses a Content-Range value: `bytes a-b/total`, or `bytes *\/total` (416 replies). */
function parseContentRange(v: string | undefined): { start: number | null; total: number | null } | null {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec((v ?? '').trim());
  if (!m) return null;
  return { start: m[1] !== undefined ? Number(m[1]) : null, total: m[2] === '*' ? null : Number(m[2]) };
}

/** A failure worth another attempt (network trouble, 5xx), as opposed to a DownloadError. */
class RetryableError extends Error {}

/** GET with redirects; resolves with the final response (not yet read). */
function get(url: string, headers: Record<string, string>, idleTimeoutMs: number, signal?: AbortSignal): Promise<{ res: http.IncomingMessage; url: string }> {
  return new Promise((resolve, reject) => {
    const go = (current: string, redirects: number): void => {
      let u: URL;
      try {
        u = new URL(current);
      } catch {
        reject(new DownloadError(`${current}: not a valid URL`));
        return;
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        reject(new DownloadError(`${current}: only http and https URLs are supported`));
        return;
      }
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.get(u, { headers, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) reject(new DownloadError(`${url}: more than ${MAX_REDIRECTS} redirects`));
          else go(new URL(res.headers.location, current).href, redirects + 1);
          return;
        }
        resolve({ res, url: current });
      });
      req.setTimeout(idleTimeoutMs, () => req.destroy(new RetryableError(`no data for ${idleTimeoutMs / 1000} s`)));
      req.on('error', (e) => reject(signal?.aborted ? new DownloadError(`${url}: aborted`) : new RetryableError(e.message)));
    };
    go(url, 0);
  });
}

/**
 * Downloads `url` to `dest`, resuming a partial download left by an earlier run or a dropped
 * connection (HTTP Range, with If-Range so a file changed on the server is fetched afresh). The
 * size is checked against Content-Length (or Content-Range's total). Throws a DownloadError (one
 * line) on an HTTP error status, a size mismatch, or when `maxAttempts` requests did not finish it.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  let delayMs = opts.retryDelayMs ?? 1000;
  const part = `${opts.dest}.part`;
  const infoFile = `${opts.dest}.part.json`;
  await mkdir(path.dirname(opts.dest), { recursive: true });

  let info = await readPartInfo(infoFile);
  if (info === null || info.url !== opts.url) {
    // A partial file without its record (or for another URL) cannot be trusted as a prefix.
    await rm(part, { force: true });
    info = null;
  }
  const resumedFromBytes = await sizeOf(part);
  const finish = async (bytes: number, attempts: number): Promise<DownloadResult> => {
    await rename(part, opts.dest);
    await rm(infoFile, { force: true });
    return { bytes, attempts, resumedFromBytes };
  };
  let lastError = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (opts.signal?.aborted) throw new DownloadError(`${opts.url}: aborted (partial download kept in ${part})`);
    if (attempt > 1) {
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs *= 2;
    }
    let have = info === null ? 0 : await sizeOf(part);
    const headers: Record<string, string> = { 'user-agent': 'fmmatch-fetch-nsynth' };
    if (have > 0 && info) {
      headers.range = `bytes=${have}-`;
      const validator = info.etag ?? info.lastModified;
      if (validator) headers['if-range'] = validator;
    }
    let res: http.IncomingMessage;
    try {
      ({ res } = await get(opts.url, headers, idleTimeoutMs, opts.signal));
    } catch (e) {
      if (e instanceof RetryableError) {
        lastError = e.message;
        continue;
      }
      throw e;
    }
    const status = res.statusCode ?? 0;
    const lengthHeader = res.headers['content-length'];
    const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    let total: number | null;
    if (status === 416 && have > 0) {
      res.resume();
      const range = parseContentRange(res.headers['content-range']);
      if (info !== null && range?.total === have && info.totalBytes === have) return finish(have, attempt); // an earlier run got it all
      // The partial file does not fit the server's file: start over on the next attempt.
      await rm(part, { force: true });
      info = null;
      lastError = `server refused the range ${have}- (its file has ${range?.total ?? 'an unknown number of'} bytes)`;
      continue;
    } else if (status === 206 && have > 0 && info) {
      const range = parseContentRange(res.headers['content-range']);
      if (range === null || range.start !== have) {
        res.resume();
        throw new DownloadError(`${opts.url}: server answered the range request for byte ${have} with '${res.headers['content-range'] ?? 'no Content-Range'}'`);
      }
      total = range.total;
      if (info.totalBytes !== null && total !== null && total !== info.totalBytes) {
        res.resume();
        throw new DownloadError(
          `${opts.url}: size mismatch: the server now reports ${total} bytes, the download began at ${info.totalBytes} (changed on the server?); delete ${part} to start over`,
        );
      }
    } else if (status === 200) {
      if (have > 0) await rm(part, { force: true }); // range ignored, or the file changed: whole file follows
      have = 0;
      total = contentLength;
      const etag = typeof res.headers.etag === 'string' && !res.headers.etag.startsWith('W/') ? res.headers.etag : null;
      info = { url: opts.url, totalBytes: total, etag, lastModified: res.headers['last-modified'] ?? null };
      await writeFile(infoFile, JSON.stringify(info));
    } else {
      res.resume();
      const msg = `${opts.url}: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
      if (status >= 500) {
        lastError = msg;
        continue;
      }
      throw new DownloadError(msg);
    }

    let done = have;
    opts.onProgress?.(done, total);
    // Each chunk is appended and awaited before the next is read: when the connection drops, every
    // byte received is on disk, so the resume asks for exactly what is missing. (A piped write
    // stream would be destroyed with its queue unwritten.)
    const fh = await open(part, 'a');
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        await fh.write(chunk);
        done += chunk.length;
        opts.onProgress?.(done, total);
      }
    } catch (e) {
      if (opts.signal?.aborted) throw new DownloadError(`${opts.url}: aborted (partial download kept in ${part})`);
      lastError = `connection lost after ${done} bytes (${(e as Error).message})`;
      continue;
    } finally {
      await fh.close();
    }
    const size = await sizeOf(part);
    if (total !== null && size !== total) {
      throw new DownloadError(`${opts.url}: size mismatch: received ${size} bytes, the server announced ${total}; delete ${part} to start over`);
    }
    return finish(size, attempt);
  }
  const have = await sizeOf(part);
  if (have === 0) throw new DownloadError(`${opts.url}: could not download after ${maxAttempts} attempts (last error: ${lastError})`);
  const of = info?.totalBytes != null ? ` of ${info.totalBytes} (Content-Length)` : '';
  throw new DownloadError(
    `${opts.url}: download incomplete after ${maxAttempts} attempts: ${have} bytes${of} (last error: ${lastError}); run again to resume`,
  );
}

/**
 * Extracts a .tar.gz into `destDir` (created). Only regular files and folders are written; links
 * and device entries are refused, and `tar` itself refuses absolute paths and `..`.
 */
export async function extractTarGz(archive: string, destDir: string): Promise<void> {
  await mkdir(destDir, { recursive: true });
  const refused: string[] = [];
  try {
    await tar.x({
      file: archive,
      cwd: destDir,
      strict: true,
      filter: (p, entry) => {
        const type = 'type' in entry ? entry.type : entry.isDirectory() ? 'Directory' : 'File';
        const ok = type === 'File' || type === 'OldFile' || type === 'Directory';
        if (!ok) refused.push(p);
        return ok;
      },
    });
  } catch (e) {
    throw new DownloadError(`${archive}: cannot be extracted (${(e as Error).message.split('\n')[0]}); delete it and run again`);
  }
  if (refused.length > 0) throw new DownloadError(`${archive}: holds ${refused.length} link or special entries (e.g. ${refused[0]}), refused`);
}

/** Options of `fetchNsynth`. */
export interface FetchNsynthOptions {
  readonly split: NsynthSplit;
  readonly form: NsynthForm;
  /** Folder receiving `nsynth-<split>/` (jsonwav) or `nsynth-<split>.tfrecord`. */
  readonly outDir: string;
  /** Override the official URL (mirrors, tests). The split size is checked only for the official URL. */
  readonly url?: string;
  /** Replace a dataset already in place. */
  readonly force?: boolean;
  /** Keep the .tar.gz after extraction (default: delete it; the test split's is ~1 GB). */
  readonly keepArchive?: boolean;
  readonly onProgress?: DownloadOptions['onProgress'];
  readonly maxAttempts?: number;
  readonly retryDelayMs?: number;
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What `fetchNsynth` produced. */
export interface FetchNsynthResult {
  /** Path to give `openNsynth` (the split folder or the .tfrecord file), absolute. */
  readonly datasetPath: string;
  /** Notes listed in the dataset. */
  readonly notes: number;
  /** True when a valid dataset was already in place and nothing was downloaded. */
  readonly alreadyPresent: boolean;
  /** The download, when there was one. */
  readonly download: DownloadResult | null;
  /** Non-fatal findings (e.g. a note count that differs from the official split's). */
  readonly warnings: readonly string[];
}

/** Checks an extracted or downloaded split; returns its note count. Throws DownloadError. */
async function validateSplit(datasetPath: string, form: NsynthForm): Promise<number> {
  try {
    if (form === 'tfrecord') return (await openTfrecord(datasetPath)).count;
    const reader = await openJsonwav(datasetPath);
    const wavs = new Set(await readdir(path.join(datasetPath, 'audio')).catch(() => [] as string[]));
    const listed = JSON.parse(await readFile(path.join(datasetPath, 'examples.json'), 'utf8')) as Record<string, unknown>;
    const missing = Object.keys(listed).filter((k) => !wavs.has(`${k}.wav`));
    if (missing.length > 0) {
      throw new DownloadError(`${datasetPath}: ${missing.length} notes listed in examples.json have no WAV (e.g. ${missing[0]}); the archive is incomplete`);
    }
    return reader.count;
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    throw new DownloadError(`validation failed: ${(e as Error).message}`);
  }
}

/** Finds the folder holding examples.json: the extraction root or one level below. */
async function findSplitFolder(root: string): Promise<string | null> {
  if (await stat(path.join(root, 'examples.json')).then(() => true, () => false)) return root;
  const subdirs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => path.join(root, d.name));
  const found: string[] = [];
  for (const d of subdirs) if (await stat(path.join(d, 'examples.json')).then(() => true, () => false)) found.push(d);
  return found.length === 1 ? found[0] : null;
}

/**
 * Downloads an NSynth split, extracts it (jsonwav) and validates it: examples.json parses, every
 * listed note has its WAV (jsonwav) or every record's CRC holds (tfrecord), and the number of notes
 * is reported (and compared with the official count when the official URL was used).
 * A dataset already in place and valid is kept unless `force`.
 */
export async function fetchNsynth(opts: FetchNsynthOptions): Promise<FetchNsynthResult> {
  const outDir = path.resolve(opts.outDir);
  const url = opts.url ?? nsynthUrl(opts.split, opts.form);
  const fileName = nsynthFileName(opts.split, opts.form);
  const datasetPath = opts.form === 'jsonwav' ? path.join(outDir, `nsynth-${opts.split}`) : path.join(outDir, fileName);
  const warnings: string[] = [];
  const checkCount = (notes: number): void => {
    const expected = NSYNTH_SPLIT_NOTES[opts.split];
    if (opts.url === undefined && notes !== expected) warnings.push(`${notes} notes, the official ${opts.split} split has ${expected}`);
  };

  const outStat = await stat(outDir).catch(() => null);
  if (outStat && !outStat.isDirectory()) throw new Error(`--out ${outDir} exists and is not a folder`);
  const present = await stat(opts.form === 'jsonwav' ? path.join(datasetPath, 'examples.json') : datasetPath).then(() => true, () => false);
  if (present && !opts.force) {
    const notes = await validateSplit(datasetPath, opts.form);
    checkCount(notes);
    return { datasetPath, notes, alreadyPresent: true, download: null, warnings };
  }
  await mkdir(outDir, { recursive: true });
  const downloadTo = opts.form === 'jsonwav' ? path.join(outDir, fileName) : datasetPath;
  if (opts.force) await rm(downloadTo, { force: true });
  const download = await downloadFile({
    url,
    dest: downloadTo,
    onProgress: opts.onProgress,
    maxAttempts: opts.maxAttempts,
    retryDelayMs: opts.retryDelayMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    signal: opts.signal,
  });
  if (opts.form === 'jsonwav') {
    // Extract beside the target and move into place at the end, so an interrupted extraction never
    // leaves a half dataset under the final name.
    const staging = path.join(outDir, `.nsynth-${opts.split}.extracting`);
    await rm(staging, { recursive: true, force: true });
    await extractTarGz(downloadTo, staging);
    const folder = await findSplitFolder(staging);
    if (folder === null) {
      await rm(staging, { recursive: true, force: true });
      throw new DownloadError(`${downloadTo}: no examples.json in the archive (not an NSynth jsonwav archive?)`);
    }
    await rm(datasetPath, { recursive: true, force: true });
    await rename(folder, datasetPath);
    await rm(staging, { recursive: true, force: true });
  }
  const notes = await validateSplit(datasetPath, opts.form);
  checkCount(notes);
  if (opts.form === 'jsonwav' && !opts.keepArchive) await rm(downloadTo, { force: true });
  return { datasetPath, notes, alreadyPresent: false, download, warnings };
}
