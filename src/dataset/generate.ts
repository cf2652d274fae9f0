/**
 * The dataset generator behind `npm run gen-dataset`: plans which patches to render, runs them on
 * a worker pool, and writes `params.csv` and `manifest.json`. Every output byte is a function of
 * the config alone; worker count, sharding and resuming only change which process writes which
 * file and when.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { ANTIALIAS_NUM_TAPS } from '../dsp/resample.ts';
import { getAlgorithm } from '../synth/algorithms.ts';
import { PARAM_SPECS, patchToVector } from '../synth/params.ts';
import { samplePatch } from '../synth/sampler.ts';
import { runPool } from '../parallel/pool.ts';
import { type DatasetConfig, datasetName, noteLength, sameConfig } from './config.ts';
import { AUDIO_DIR, audioPath, audioRelPath, DATASET_FORMAT, DATASET_FORMAT_VERSION, MANIFEST_FILE, PARAMS_FILE, patchId, shardRange } from './layout.ts';
import { type PatchResult, type PatchTask, makePatchHandler, samplerOptionsOf, writeFileAtomic } from './patch-file.ts';
import { paramsCsvHeader, paramsCsvRow } from './params-csv.ts';

/** Version string of this tool, recorded in manifests. */
export const TOOL_VERSION = '0.1.0';

/** How to run the generator (none of it changes the output bytes). */
export interface GenerateOptions {
  /** Output folder. */
  readonly dir: string;
  /** Worker threads; 0 renders in this thread. */
  readonly workers: number;
  /** Only this contiguous slice of ids, or null for all. */
  readonly shard: { readonly index: number; readonly of: number } | null;
  /** Continue a folder made earlier with the same config. */
  readonly resume: boolean;
  /** Replace a folder made with another config (its dataset files are deleted first). */
  readonly force: boolean;
  /** Called after each patch with (patches finished in this run, patches this run will do). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Aborting stops handing out work; files already written stay, and the run can be resumed. */
  readonly signal?: AbortSignal;
}

/** What a run did. */
export interface GenerateSummary {
  readonly dir: string;
  readonly name: string;
  /** Patches rendered by this run. */
  readonly rendered: number;
  /** Patches found already written (resume) and byte-identical to their re-render: kept. */
  readonly reused: number;
  /**
   * Files found already written but different from their patch's re-render (damaged body or
   * header, truncated, unreadable), which this run replaced: paths relative to the folder, in id
   * order. Not counted in `rendered` or `reused`.
   */
  readonly repaired: readonly string[];
  /** Patches present in the folder after the run. */
  readonly present: number;
  readonly count: number;
  readonly complete: boolean;
  readonly interrupted: boolean;
  readonly aboveNyquist: number;
  readonly clipped: number;
  readonly contentHash: string | null;
  readonly seconds: number;
}

/** An error in the user's request: the CLI prints its message as one line. */
export class DatasetError extends Error {}

interface ManifestShape {
  format: string;
  formatVersion: number;
  config: DatasetConfig;
}

/** Reads the config recorded in an existing dataset folder's manifest, or null when there is none. */
export function readExistingConfig(dir: string): DatasetConfig | null {
  const file = path.join(dir, MANIFEST_FILE);
  if (!existsSync(file)) return null;
  let parsed: ManifestShape;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as ManifestShape;
  } catch (e) {
    throw new DatasetError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (parsed.format !== DATASET_FORMAT || typeof parsed.config !== 'object') throw new DatasetError(`${file}: not an fmmatch dataset manifest`);
  return parsed.config;
}

function describeConfigDiff(a: DatasetConfig, b: DatasetConfig): string {
  const keys = Object.keys(a) as (keyof DatasetConfig)[];
  return keys
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k} ${String(a[k])} vs ${String(b[k])}`)
    .join(', ');
}

/** Checks the request against the folder and prepares it. Throws DatasetError before writing anything. */
function prepareFolder(config: DatasetConfig, opts: GenerateOptions): void {
  const { dir } = opts;
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new DatasetError(`--out ${dir} exists and is not a folder`);
    const existing = readExistingConfig(dir);
    const entries = readdirSync(dir);
    if (existing && !sameConfig(existing, config)) {
      if (!opts.force) throw new DatasetError(`${dir} holds a dataset made with another config (${describeConfigDiff(existing, config)}); use --force to replace it or --out for another folder`);
    } else if (!existing && entries.length > 0 && !opts.force) {
      throw new DatasetError(`${dir} exists and is not an fmmatch dataset; choose an empty or new --out, or --force`);
    } else if (existing && !opts.resume && !opts.force) {
      throw new DatasetError(`${dir} already holds this dataset; use --resume to complete or verify it, or --force to regenerate it`);
    }
    try {
      accessSync(dir, fsConstants.W_OK);
    } catch {
      throw new DatasetError(`--out ${dir} is not writable`);
    }
    if (opts.force && (!existing || !sameConfig(existing, config) || !opts.resume)) {
      // Only what the generator itself writes is deleted; anything else in the folder stays.
      rmSync(path.join(dir, AUDIO_DIR), { recursive: true, force: true });
      rmSync(path.join(dir, PARAMS_FILE), { force: true });
      rmSync(path.join(dir, MANIFEST_FILE), { force: true });
    }
  }
  try {
    mkdirSync(path.join(dir, AUDIO_DIR), { recursive: true });
  } catch (e) {
    throw new DatasetError(`--out ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Writes params.csv for all `config.count` patches, streaming row by row. Returns its SHA-256 and the above-Nyquist count. */
function writeParams(dir: string, config: DatasetConfig): { sha256: string; aboveNyquist: number } {
  const sampler = samplerOptionsOf(config);
  const chunks: string[] = [paramsCsvHeader()];
  let above = 0;
  for (let i = 0; i < config.count; i++) {
    const { patch, aboveNyquist } = samplePatch(i, sampler);
    if (aboveNyquist) above++;
    chunks.push(paramsCsvRow(patchId(i, config.count), audioRelPath(i, config.count), patchToVector(patch)));
  }
  const text = chunks.join('');
  writeFileAtomic(path.join(dir, PARAMS_FILE), text);
  return { sha256: createHash('sha256').update(text).digest('hex'), aboveNyquist: above };
}

function buildManifest(
  config: DatasetConfig,
  counts: { present: number; aboveNyquist: number; clipped: number | null },
  contentHash: string | null,
  paramsSha256: string,
): string {
  const alg = getAlgorithm(config.algorithm);
  const manifest = {
    format: DATASET_FORMAT,
    formatVersion: DATASET_FORMAT_VERSION,
    name: datasetName(config),
    complete: contentHash !== null,
    config,
    algorithm: { name: alg.name, describe: alg.describe },
    counts: {
      patches: config.count,
      present: counts.present,
      aboveNyquist: counts.aboveNyquist,
      clipped: counts.clipped,
    },
    nyquist: {
      policy: config.nyquist,
      limitHz: config.renderRate / 2,
      treatment:
        config.nyquist === 'keep'
          ? 'kept as drawn (the paper accepts it): an operator above the limit aliases in the 48 kHz render; counts.aboveNyquist patches have one'
          : 'ratios redrawn from the same per-patch stream until every operator is below the limit; counts.aboveNyquist is therefore 0',
    },
    audio: {
      folder: AUDIO_DIR,
      encoding: 'WAV, PCM 16-bit signed, mono (full scale ±32767; values beyond ±1 are clipped, counted in counts.clipped)',
      outputGain: config.outputGain,
      sampleRate: config.sampleRate,
      samplesPerNote: noteLength(config),
      renderRate: config.renderRate,
      decimation: `anti-alias linear-phase FIR (${ANTIALIAS_NUM_TAPS} taps, flat 0–7 kHz within ±0.1 dB, ≥ 80 dB above 8 kHz), keep 1 in 3`,
    },
    // params.csv's own hash (also inside contentHash), so a reader can check it without the WAVs.
    params: { file: PARAMS_FILE, sha256: paramsSha256, columns: ['id', 'file', ...PARAM_SPECS.map((s) => s.name)], spec: PARAM_SPECS },
    tool: { name: 'fmmatch', version: TOOL_VERSION, node: process.versions.node },
    contentHash,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * Generates (or completes) a dataset. Throws DatasetError for a bad request before writing anything.
 */
export async function generateDataset(config: DatasetConfig, opts: GenerateOptions): Promise<GenerateSummary> {
  const t0 = performance.now();
  prepareFolder(config, opts);
  const { dir } = opts;
  const count = config.count;

  // Leftovers of a killed run are never complete files: remove them.
  for (const f of readdirSync(path.join(dir, AUDIO_DIR))) {
    if (f.endsWith('.tmp')) unlinkSync(path.join(dir, AUDIO_DIR, f));
  }
  const range = opts.shard ? shardRange(count, opts.shard) : { start: 0, end: count };
  // Any file under a patch's name counts as present, whatever its size: a damaged one is found and
  // replaced by the verification below rather than silently re-rendered as if it had been missing.
  const isPresent = (i: number): boolean => {
    const file = audioPath(dir, i, count);
    let st;
    try {
      st = statSync(file);
    } catch {
      return false;
    }
    if (!st.isFile()) throw new DatasetError(`${file} is not a file; remove it and run again with --resume`);
    return true;
  };
  const present = new Uint8Array(count);
  for (let i = 0; i < count; i++) present[i] = isPresent(i) ? 1 : 0;
  const params = writeParams(dir, config);
  writeFileAtomic(path.join(dir, MANIFEST_FILE), buildManifest(config, { present: 0, aboveNyquist: params.aboveNyquist, clipped: null }, null, params.sha256));

  // This run renders what its range lacks; it verifies files that exist (its own earlier ones, and
  // the other shards' once they are all there) against their re-render, replacing any that differ,
  // so that the final manifest's content hash is that of a fresh generation.
  const tasks: PatchTask[] = [];
  for (let i = range.start; i < range.end; i++) if (!present[i]) tasks.push({ index: i, verify: false });
  let missingOutside = 0;
  for (let i = 0; i < count; i++) if ((i < range.start || i >= range.end) && !present[i]) missingOutside++;
  const willComplete = missingOutside === 0;
  for (let i = 0; i < count; i++) {
    if (present[i] && (willComplete || (i >= range.start && i < range.end))) tasks.push({ index: i, verify: true });
  }
  tasks.sort((a, b) => a.index - b.index);

  const hashes = new Uint8Array(count * 32);
  const hashed = new Uint8Array(count);
  let clipped = 0;
  let done = 0;
  let rendered = 0;
  let reused = 0;
  const repairedFlag = new Uint8Array(count);
  const onResult = (r: PatchResult): void => {
    hashes.set(Buffer.from(r.sha256, 'hex'), r.index * 32);
    hashed[r.index] = 1;
    present[r.index] = 1;
    if (r.clipped) clipped++;
    if (r.repaired) repairedFlag[r.index] = 1;
    done++;
    opts.onProgress?.(done, tasks.length);
  };
  const taskCount = tasks.length;
  if (opts.workers <= 0) {
    const handle = makePatchHandler(dir, config);
    for (const t of tasks) {
      if (opts.signal?.aborted) break;
      onResult(handle(t));
    }
  } else {
    await runPool<PatchTask, PatchResult>(tasks, {
      moduleUrl: new URL('./worker.ts', import.meta.url),
      workerData: { dir, config },
      workers: opts.workers,
      chunkSize: 8,
      onResult,
      signal: opts.signal,
    });
  }
  const repaired: string[] = [];
  for (const t of tasks) {
    if (!hashed[t.index]) continue;
    if (!t.verify) rendered++;
    else if (repairedFlag[t.index]) repaired.push(audioRelPath(t.index, count));
    else reused++;
  }

  let presentCount = 0;
  for (let i = 0; i < count; i++) presentCount += present[i];
  let allHashed = presentCount === count;
  for (let i = 0; i < count && allHashed; i++) allHashed = hashed[i] === 1;
  let contentHash: string | null = null;
  if (allHashed) {
    const h = createHash('sha256');
    h.update(`${DATASET_FORMAT} v${DATASET_FORMAT_VERSION}\nparams ${params.sha256}\n`);
    for (let i = 0; i < count; i++) h.update(`${patchId(i, count)} ${Buffer.from(hashes.subarray(i * 32, i * 32 + 32)).toString('hex')}\n`);
    contentHash = `sha256:${h.digest('hex')}`;
  }
  writeFileAtomic(
    path.join(dir, MANIFEST_FILE),
    buildManifest(config, { present: presentCount, aboveNyquist: params.aboveNyquist, clipped: contentHash ? clipped : null }, contentHash, params.sha256),
  );
  return {
    dir,
    name: datasetName(config),
    rendered,
    reused,
    repaired,
    present: presentCount,
    count,
    complete: contentHash !== null,
    interrupted: done < taskCount,
    aboveNyquist: params.aboveNyquist,
    clipped,
    contentHash,
    seconds: (performance.now() - t0) / 1000,
  };
}
