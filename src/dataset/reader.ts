/**
 * Reading a generated dataset for training: the manifest and params.csv are validated up front
 * (so a bad dataset fails in a second, not an hour into training), the audio is read lazily, one
 * batch at a time, so memory does not grow with the dataset.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeWav } from '../dsp/wav.ts';
import { PARAM_COUNT, PARAM_NAMES, PARAM_SPECS } from '../synth/params.ts';
import type { DatasetConfig } from './config.ts';
import { noteLength } from './config.ts';
import { DATASET_FORMAT, DATASET_FORMAT_VERSION, MANIFEST_FILE, PARAMS_FILE } from './layout.ts';

/** An opened dataset: its config, ids, files and parameters (audio not loaded). */
export interface DatasetIndex {
  readonly dir: string;
  readonly config: DatasetConfig;
  /** The manifest's content hash (sha256:…), identifying the exact data a model was trained on. */
  readonly contentHash: string;
  /** Patch ids, in params.csv order. */
  readonly ids: readonly string[];
  /** WAV paths relative to `dir`, aligned with `ids`. */
  readonly files: readonly string[];
  /** Parameters, row-major [count, 15], PARAM_SPECS order and units. */
  readonly params: Float64Array;
  /** Samples per note (64,000). */
  readonly samplesPerNote: number;
  readonly sampleRate: number;
}

/** A problem with a dataset; the message names the file and the problem. */
export class DatasetReadError extends Error {}

/** Opens and validates a dataset folder written by `gen-dataset`. */
export function openDataset(dir: string): DatasetIndex {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetReadError(`${dir}: no such dataset folder`);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw new DatasetReadError(`${manifestPath}: missing (not a gen-dataset folder?)`);
  let manifest: { format?: string; formatVersion?: number; complete?: boolean; config?: DatasetConfig; contentHash?: string | null; params?: { sha256?: string } };
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new DatasetReadError(`${manifestPath}: not valid JSON (${(e as Error).message})`);
  }
  if (manifest.format !== DATASET_FORMAT || manifest.formatVersion !== DATASET_FORMAT_VERSION || !manifest.config) {
    throw new DatasetReadError(`${manifestPath}: not an fmmatch dataset manifest of version ${DATASET_FORMAT_VERSION}`);
  }
  if (!manifest.complete || !manifest.contentHash) {
    throw new DatasetReadError(`${dir}: the dataset is incomplete; finish it with gen-dataset --resume --out ${dir}`);
  }
  const config = manifest.config;
  const paramsPath = path.join(dir, PARAMS_FILE);
  if (!existsSync(paramsPath)) throw new DatasetReadError(`${paramsPath}: missing`);
  const paramsBytes = readFileSync(paramsPath);
  const lines = paramsBytes.toString('utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const expectedHeader = ['id', 'file', ...PARAM_NAMES];
  const header = (lines[0] ?? '').split(',');
  for (const name of expectedHeader) {
    if (!header.includes(name)) throw new DatasetReadError(`${paramsPath}: column '${name}' is missing`);
  }
  const col = expectedHeader.map((n) => header.indexOf(n));
  const rows = lines.length - 1;
  if (rows !== config.count) throw new DatasetReadError(`${paramsPath}: ${rows} rows, but the manifest says ${config.count} patches`);
  const ids: string[] = [];
  const files: string[] = [];
  const params = new Float64Array(rows * PARAM_COUNT);
  for (let r = 0; r < rows; r++) {
    const cells = lines[r + 1].split(',');
    if (cells.length !== header.length) throw new DatasetReadError(`${paramsPath}: row ${r + 2} has ${cells.length} cells, expected ${header.length}`);
    const id = cells[col[0]];
    const file = cells[col[1]];
    if (file.includes('..') || path.isAbsolute(file)) throw new DatasetReadError(`${paramsPath}: row ${r + 2}: file '${file}' points outside the dataset`);
    ids.push(id);
    files.push(file);
    for (let j = 0; j < PARAM_COUNT; j++) {
      const text = cells[col[2 + j]];
      const v = text.trim() === '' ? NaN : Number(text);
      const spec = PARAM_SPECS[j];
      if (!Number.isFinite(v)) throw new DatasetReadError(`${paramsPath}: row ${r + 2} (${id}): ${spec.name} is '${text}', not a number`);
      const slack = 1e-9 * Math.max(Math.abs(spec.min), Math.abs(spec.max));
      if (v < spec.min - slack || v > spec.max + slack) throw new DatasetReadError(`${paramsPath}: row ${r + 2} (${id}): ${spec.name} = ${v} is outside ${spec.min} … ${spec.max}`);
      params[r * PARAM_COUNT + j] = v;
    }
  }
  // Checked after the rows, so a malformed cell gets its own message. (Manifests written before
  // the field existed carry no params hash; the WAVs are not re-hashed here: that is 1.3 GB.)
  const expectedSha = manifest.params?.sha256;
  if (expectedSha !== undefined && createHash('sha256').update(paramsBytes).digest('hex') !== expectedSha) {
    throw new DatasetReadError(`${paramsPath}: changed since gen-dataset wrote it (its sha256 differs from the manifest's); restore it with gen-dataset --resume --out ${dir}`);
  }
  return { dir, config, contentHash: manifest.contentHash, ids, files, params, samplesPerNote: noteLength(config), sampleRate: config.sampleRate };
}

/** The 15 parameters of row `i`, a view into `index.params`. */
export function paramsOf(index: DatasetIndex, i: number): Float64Array {
  return index.params.subarray(i * PARAM_COUNT, (i + 1) * PARAM_COUNT);
}

/**
 * Reads and checks the audio of row `i`. Throws a DatasetReadError naming the file for a missing,
 * corrupt, stereo, wrong-rate or wrong-length WAV.
 *
 * @returns samples in [-1, 1], shape [samplesPerNote].
 */
export async function loadAudio(index: DatasetIndex, i: number): Promise<Float32Array> {
  const file = path.join(index.dir, index.files[i]);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DatasetReadError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return decodeWav(bytes, { sampleRate: index.sampleRate, mono: true, frames: index.samplesPerNote }).samples;
  } catch (e) {
    throw new DatasetReadError(`${file}: ${(e as Error).message}`);
  }
}
