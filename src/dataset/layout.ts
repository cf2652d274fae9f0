/**
 * The on-disk layout of a generated dataset:
 *
 * ```
 * <dir>/manifest.json      resolved config, parameter spec, counts, versions, content hash
 * <dir>/params.csv         id, file, then the 15 parameters (spec names and units)
 * <dir>/audio/<id>.wav     mono 16-bit PCM, 16 kHz, 64,000 samples
 * ```
 */
import path from 'node:path';
import { WAV_HEADER_BYTES } from '../dsp/wav.ts';
import { type DatasetConfig, noteLength } from './config.ts';

/** Name of the manifest file. */
export const MANIFEST_FILE = 'manifest.json';
/** Name of the parameter table. */
export const PARAMS_FILE = 'params.csv';
/** Folder of the WAV files. */
export const AUDIO_DIR = 'audio';
/** Format tag written into every manifest. */
export const DATASET_FORMAT = 'fmmatch-dataset';
/** Version of the layout; readers refuse other versions. */
export const DATASET_FORMAT_VERSION = 1;

/** Patch id: the index, zero-padded to at least 5 digits so that ids sort as numbers. */
export function patchId(index: number, count: number): string {
  const width = Math.max(5, String(Math.max(0, count - 1)).length);
  return String(index).padStart(width, '0');
}

/** WAV path of patch `index` relative to the dataset folder (POSIX separators, as in the CSV). */
export function audioRelPath(index: number, count: number): string {
  return `${AUDIO_DIR}/${patchId(index, count)}.wav`;
}

/** Absolute WAV path of patch `index`. */
export function audioPath(dir: string, index: number, count: number): string {
  return path.join(dir, AUDIO_DIR, `${patchId(index, count)}.wav`);
}

/** Size in bytes of every WAV file of the dataset. */
export function wavBytes(config: DatasetConfig): number {
  return WAV_HEADER_BYTES + 2 * noteLength(config);
}

/**
 * The contiguous slice of ids that shard `index` of `of` covers: [start, end).
 * Contiguous slices keep each machine's files together for copying.
 */
export function shardRange(count: number, shard: { index: number; of: number }): { start: number; end: number } {
  return { start: Math.floor((shard.index * count) / shard.of), end: Math.floor(((shard.index + 1) * count) / shard.of) };
}

/** Parses `i/N` (0 ≤ i < N). Throws a one-line Error for anything else. */
export function parseShard(text: string): { index: number; of: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--shard must look like i/N (e.g. 0/4), got '${text}'`);
  const index = Number(m[1]);
  const of = Number(m[2]);
  if (of < 1 || index >= of) throw new Error(`--shard ${text}: need 0 ≤ i < N`);
  return { index, of };
}
