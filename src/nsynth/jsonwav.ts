/**
 * Reader for NSynth's jsonwav form: `<dir>/examples.json` (metadata keyed by note_str) and
 * `<dir>/audio/<note_str>.wav`. Metadata is read and validated when the folder is opened; audio is
 * read one note at a time as the stream is consumed (one file read ahead, so disk and decoding
 * overlap with the caller's work).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeWav } from '../dsp/wav.ts';
import {
  isSafeNoteStr, matchesFilters, nameMayMatchFilters, NSYNTH_FRAMES, NSYNTH_SAMPLE_RATE, NsynthError, showId, validateFilters, validateNoteMeta,
  type NoteSkip, type NsynthEntry, type NsynthFilters, type NsynthReader,
} from './meta.ts';
import type { NoteMeta } from './types.ts';

/** A planned stream item: a valid, selected note whose audio is still to be read, or a known skip. */
type Planned = { readonly meta: NoteMeta } | { readonly skip: NoteSkip };

/**
 * Opens a jsonwav folder: reads and validates examples.json, applies the filters, and returns a
 * reader whose stream yields the selected notes in note_str order (plain code-unit order, so it does
 * not depend on the locale).
 *
 * Whole-dataset problems (no examples.json, not JSON, not an object, no notes) throw an NsynthError
 * naming the file. Per-note problems become skips in the stream: invalid metadata, a note name that
 * is not a safe file name (never used as a path), a missing WAV, a corrupt WAV, a WAV that is not
 * 16 kHz, not mono or not 64 000 frames.
 *
 * @param dir the split folder, e.g. `datasets/nsynth/nsynth-test`.
 * @param filters checked here; an Error names the bad one.
 */
export async function openJsonwav(dir: string, filters: NsynthFilters = {}): Promise<NsynthReader> {
  validateFilters(filters);
  const root = path.resolve(dir);
  const jsonPath = path.join(root, 'examples.json');
  const byKey = await readExamplesJson(jsonPath);
  const keys = Object.keys(byKey).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const planned: Planned[] = [];
  for (const key of keys) {
    if (filters.limit !== undefined && planned.length >= filters.limit) break;
    const item = planKey(key, byKey[key]);
    if ('skip' in item ? nameMayMatchFilters(key, filters) : matchesFilters(item.meta, filters)) planned.push(item);
  }
  const audioDir = path.join(root, 'audio');
  return {
    form: 'jsonwav',
    path: root,
    count: planned.length,
    [Symbol.asyncIterator]: () => streamNotes(audioDir, planned),
  };
}

async function readExamplesJson(jsonPath: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NsynthError(`${jsonPath}: not found (an NSynth jsonwav folder holds examples.json and audio/)`);
    throw new NsynthError(`${jsonPath}: cannot be read (${code ?? (e as Error).message})`);
  }
  if (text.trim() === '') throw new NsynthError(`${jsonPath}: is empty`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new NsynthError(`${jsonPath}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new NsynthError(`${jsonPath}: is not a JSON object keyed by note_str`);
  }
  if (Object.keys(parsed).length === 0) throw new NsynthError(`${jsonPath}: lists no notes`);
  return parsed as Record<string, unknown>;
}

/** Validates one examples.json entry; never touches the file system. */
function planKey(key: string, value: unknown): Planned {
  // The key becomes a file name, so it is vetted on its own terms first: whatever the metadata
  // says, an unsafe key is never joined to a path.
  if (!isSafeNoteStr(key)) {
    return { skip: { id: showId(key), reason: `examples.json: note name ${showId(key)} is not a plain file name (only a–z, 0–9, '_', '-')` } };
  }
  const meta = validateNoteMeta(value);
  if (typeof meta === 'string') return { skip: { id: key, reason: `examples.json: ${meta}` } };
  if (meta.note_str !== key) return { skip: { id: key, reason: `examples.json: listed under '${key}' but its note_str is ${showId(meta.note_str)}` } };
  return { meta };
}

type ReadResult = { readonly bytes: Uint8Array } | { readonly error: NodeJS.ErrnoException };

/** Reads a file into a result that never rejects, so a read-ahead nobody awaits cannot go unhandled. */
function readSettled(file: string): Promise<ReadResult> {
  return readFile(file).then(
    (bytes) => ({ bytes }),
    (error: NodeJS.ErrnoException) => ({ error }),
  );
}

async function* streamNotes(audioDir: string, planned: readonly Planned[]): AsyncGenerator<NsynthEntry> {
  const wavPath = (meta: NoteMeta): string => {
    const file = path.join(audioDir, `${meta.note_str}.wav`);
    // Second lock on the same door: the joined path must sit directly in audio/.
    if (path.dirname(file) !== audioDir) throw new Error(`internal: ${showId(meta.note_str)} escapes ${audioDir}`);
    return file;
  };
  // One read ahead, keyed by position, so the next file loads while the caller works on this one.
  const ahead = new Map<number, Promise<ReadResult>>();
  for (let i = 0; i < planned.length; i++) {
    const item = planned[i];
    const pending = ahead.get(i);
    ahead.delete(i);
    for (let j = i + 1; j < planned.length; j++) {
      const p = planned[j];
      if ('meta' in p) {
        if (!ahead.has(j)) ahead.set(j, readSettled(wavPath(p.meta)));
        break;
      }
    }
    if ('skip' in item) {
      yield { kind: 'skip', skip: item.skip };
      continue;
    }
    const rel = `audio/${item.meta.note_str}.wav`;
    const result = await (pending ?? readSettled(wavPath(item.meta)));
    if ('error' in result) {
      const code = result.error.code;
      const reason = code === 'ENOENT' ? `${rel}: missing` : `${rel}: cannot be read (${code ?? result.error.message})`;
      yield { kind: 'skip', skip: { id: item.meta.note_str, reason } };
      continue;
    }
    try {
      const wav = decodeWav(result.bytes, { sampleRate: NSYNTH_SAMPLE_RATE, mono: true, frames: NSYNTH_FRAMES });
      yield { kind: 'note', note: { meta: item.meta, audio: wav.samples } };
    } catch (e) {
      yield { kind: 'skip', skip: { id: item.meta.note_str, reason: `${rel}: ${(e as Error).message}` } };
    }
  }
}
