/**
 * One patch of a dataset, from (config, index) to its WAV file on disk: what a generator worker
 * does per task. Files are written atomically (a temporary name, then a rename), so a killed run
 * leaves either a whole file or none.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { encodeWavPcm16, WAV_HEADER_BYTES } from '../dsp/wav.ts';
import { getAlgorithm } from '../synth/algorithms.ts';
import { NoteScratch, renderNote } from '../synth/note.ts';
import type { RenderOptions } from '../synth/render.ts';
import { samplePatch } from '../synth/sampler.ts';
import type { DatasetConfig } from './config.ts';
import { audioPath } from './layout.ts';

/** Render options of a dataset config. */
export function renderOptionsOf(config: DatasetConfig): RenderOptions {
  return Object.freeze({ sampleRate: config.renderRate, durationSec: config.durationSec, noteOffSec: config.noteOffSec, feedback: config.feedback });
}

/** Sampler options of a dataset config. */
export function samplerOptionsOf(config: DatasetConfig): { seed: number; nyquist: DatasetConfig['nyquist']; nyquistHz: number } {
  return { seed: config.seed, nyquist: config.nyquist, nyquistHz: config.renderRate / 2 };
}

/**
 * A worker's task: render patch `index` and write it, or (`verify`) render it and compare it with
 * the file a previous run (or another machine's shard) left there, rewriting that file only when
 * its bytes differ.
 */
export interface PatchTask {
  readonly index: number;
  readonly verify: boolean;
}

/** What a worker reports per patch. */
export interface PatchResult {
  readonly index: number;
  /** SHA-256 of the WAV file, hex. */
  readonly sha256: string;
  /** The file reaches full scale (±32767): the rendered note was clipped or touched ±1. */
  readonly clipped: boolean;
  /** A `verify` task found the existing file unreadable or different from the render, and replaced it. */
  readonly repaired: boolean;
}

/** True when 16-bit PCM data (after the 44-byte header) contains a full-scale sample. */
export function reachesFullScale(wav: Uint8Array): boolean {
  const pcm = new Int16Array(wav.buffer, wav.byteOffset + WAV_HEADER_BYTES, (wav.length - WAV_HEADER_BYTES) >> 1);
  for (let i = 0; i < pcm.length; i++) if (pcm[i] === 32767 || pcm[i] === -32767 || pcm[i] === -32768) return true;
  return false;
}

/**
 * Writes `bytes` to `file` atomically: a temporary file in the same folder, then a rename. A
 * killed process leaves a whole file or none (the kernel keeps written data across the process's
 * death); no fsync, which would guard against power loss at ~0.7 ms a file.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Builds the per-task handler for one worker (buffers allocated once). */
export function makePatchHandler(dir: string, config: DatasetConfig): (task: PatchTask) => PatchResult {
  const alg = getAlgorithm(config.algorithm);
  const renderOpts = renderOptionsOf(config);
  const sampler = samplerOptionsOf(config);
  const scratch = new NoteScratch(renderOpts);
  return (task) => {
    const file = audioPath(dir, task.index, config.count);
    const { patch } = samplePatch(task.index, sampler);
    const note = renderNote(patch, alg, renderOpts, scratch);
    const bytes = encodeWavPcm16(note, config.sampleRate, config.outputGain);
    // A file is checked against its own re-render rather than against a recorded hash: shards are
    // merged by copying audio/ folders, so no per-file record would travel with them, and a render
    // (≈ 2.4 ms) makes a resume cost no more than generating afresh. Byte equality covers every
    // kind of damage: body, header (another rate, length), truncation.
    let repaired = false;
    if (task.verify) {
      let existing: Buffer | null = null;
      try {
        existing = readFileSync(file);
      } catch {
        // Unreadable counts as damaged: the rewrite below replaces it (or fails with its own error).
      }
      repaired = existing === null || !existing.equals(bytes);
    }
    if (!task.verify || repaired) writeFileAtomic(file, bytes);
    return {
      index: task.index,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      clipped: reachesFullScale(bytes),
      repaired,
    };
  };
}
