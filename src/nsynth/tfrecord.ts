/**
 * NSynth's TFRecord form: a file of records `uint64 length (LE) | uint32 masked CRC-32C of length |
 * data | uint32 masked CRC-32C of data`, each data a `tf.train.Example` with the 13 metadata
 * features and `audio` (64 000 float32).
 *
 * Opening a file makes one pass over it (every CRC checked, metadata decoded, audio left as bytes)
 * to build an index; the stream then reads the selected records by offset in note_str order, the
 * same order as the jsonwav reader, so both forms of a split give the same stream.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32c, maskCrc } from './crc32c.ts';
import { decodeExample, decodeUtf8, encodeExample, type Feature, type FeatureValue } from './example-proto.ts';
import {
  matchesFilters, nameMayMatchFilters, NOTE_META_KEYS, NSYNTH_FRAMES, NsynthError, showId, validateFilters, validateNoteMeta,
  type NoteSkip, type NsynthEntry, type NsynthFilters, type NsynthReader,
} from './meta.ts';
import type { Note, NoteMeta } from './types.ts';

/** Bytes of a record's header: uint64 length + uint32 masked CRC of it. */
const HEADER_BYTES = 12;
/** Bytes of a record's footer: uint32 masked CRC of the data. */
const FOOTER_BYTES = 4;
/** Largest record accepted, bytes. An NSynth record is ~257 KB; this only guards against absurd allocations. */
const MAX_RECORD_BYTES = 1 << 30;

/** Frames one record: header, data, footer. Returns a new buffer of 16 + data.length bytes. */
export function frameTfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.length + FOOTER_BYTES);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskCrc(crc32c(out.subarray(0, 8))), true);
  out.set(data, HEADER_BYTES);
  view.setUint32(HEADER_BYTES + data.length, maskCrc(crc32c(data)), true);
  return out;
}

/** One record read from a file. */
export interface TfRecord {
  /** 0-based position of the record in the file. */
  readonly index: number;
  /** Byte offset of the record's header. */
  readonly offset: number;
  /** The record's data (a view that stays valid). */
  readonly data: Uint8Array;
}

/**
 * Reads the records of a TFRecord file in order, checking both CRCs of each. Throws an NsynthError
 * naming the file and the record index on a bad CRC or a truncated record.
 */
export async function* readTfRecords(file: string): AsyncGenerator<TfRecord> {
  const fh = await openOrThrow(file);
  try {
    const size = (await fh.stat()).size;
    let offset = 0;
    for (let index = 0; offset < size; index++) {
      const data = await readRecordAt(fh, file, size, offset, index);
      yield { index, offset, data };
      offset += HEADER_BYTES + data.length + FOOTER_BYTES;
    }
  } finally {
    await fh.close();
  }
}

async function openOrThrow(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NsynthError(`${file}: ${code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? (e as Error).message})`}`);
  }
}

async function readExactly(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Reads and checks the record at `offset`; returns its data. */
async function readRecordAt(fh: FileHandle, file: string, size: number, offset: number, index: number): Promise<Uint8Array> {
  const where = `${file}: record ${index} (byte ${offset})`;
  const header = new Uint8Array(HEADER_BYTES);
  if ((await readExactly(fh, header, offset)) < HEADER_BYTES) throw new NsynthError(`${where}: truncated header (file ends at byte ${size})`);
  const hv = new DataView(header.buffer);
  if (hv.getUint32(8, true) !== maskCrc(crc32c(header.subarray(0, 8)))) {
    // At the very start this is far more likely the wrong kind of file than a corrupt one.
    throw new NsynthError(`${where}: bad CRC-32C of the length (${index === 0 ? 'not a TFRecord file?' : 'corrupt file'})`);
  }
  const length = hv.getBigUint64(0, true);
  if (length > BigInt(MAX_RECORD_BYTES)) throw new NsynthError(`${where}: record of ${length} bytes is too large`);
  const n = Number(length);
  if (offset + HEADER_BYTES + n + FOOTER_BYTES > size) throw new NsynthError(`${where}: truncated (${n} bytes announced, file ends at byte ${size})`);
  const body = new Uint8Array(n + FOOTER_BYTES);
  await readExactly(fh, body, offset + HEADER_BYTES);
  const data = body.subarray(0, n);
  const stored = new DataView(body.buffer).getUint32(n, true);
  const computed = maskCrc(crc32c(data));
  if (stored !== computed) {
    throw new NsynthError(`${where}: bad CRC-32C of the data (stored 0x${hex(stored)}, computed 0x${hex(computed)}; corrupt file)`);
  }
  return data;
}

const hex = (v: number): string => v.toString(16).padStart(8, '0');

/**
 * Writes records to a TFRecord file (replacing it). Written to `<file>.tmp` and renamed at the end,
 * so a crash never leaves a half file under the final name.
 *
 * @returns the number of records written.
 */
export async function writeTfRecordFile(file: string, records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  let count = 0;
  try {
    for await (const data of records) {
      await fh.write(frameTfRecord(data));
      count++;
    }
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, file);
  return count;
}

/**
 * Encodes a note as NSynth's `tf.train.Example`: the 13 metadata fields (ints as int64 lists,
 * strings as bytes lists) and `audio` as 64 000 float32.
 */
export function encodeNoteExample(note: Note): Uint8Array {
  const m = note.meta;
  const features: Record<string, FeatureValue> = {};
  for (const key of NOTE_META_KEYS) {
    const v = m[key];
    if (typeof v === 'number') features[key] = { kind: 'int64', values: [v] };
    else if (typeof v === 'string') features[key] = { kind: 'bytes', values: [v] };
    else if (key === 'qualities') features[key] = { kind: 'int64', values: v as readonly number[] };
    else features[key] = { kind: 'bytes', values: v as readonly string[] };
  }
  features.audio = { kind: 'float', values: note.audio };
  return encodeExample(features);
}

/**
 * Writes notes as an NSynth TFRecord file (e.g. to convert a jsonwav folder).
 *
 * @returns the number of notes written.
 */
export async function writeNsynthTfRecord(file: string, notes: Iterable<Note> | AsyncIterable<Note>): Promise<number> {
  async function* encoded(): AsyncGenerator<Uint8Array> {
    for await (const note of notes) yield encodeNoteExample(note);
  }
  return writeTfRecordFile(file, encoded());
}

/** Metadata out of decoded features: a NoteMeta, or a problem sentence. */
export function noteMetaOfFeatures(features: ReadonlyMap<string, Feature>): NoteMeta | string {
  const raw: Record<string, unknown> = {};
  for (const key of NOTE_META_KEYS) {
    const f = features.get(key);
    if (f === undefined) return `no feature '${key}'`;
    const list = key === 'qualities' || key === 'qualities_str';
    const wantsBytes = key.endsWith('_str');
    if (f.kind === 'none') {
      // An empty Feature: only a list field can be legitimately empty.
      if (!list) return `feature '${key}' is empty`;
      raw[key] = [];
      continue;
    }
    if (wantsBytes && f.kind !== 'bytes') return `feature '${key}' is a ${f.kind} list, expected bytes`;
    if (!wantsBytes && f.kind !== 'int64') return `feature '${key}' is a ${f.kind} list, expected int64`;
    let values: unknown[];
    if (f.kind === 'bytes') {
      try {
        values = f.values.map(decodeUtf8);
      } catch {
        return `feature '${key}' is not valid UTF-8`;
      }
    } else values = [...(f as { values: readonly number[] }).values];
    if (list) raw[key] = values;
    else if (values.length !== 1) return `feature '${key}' has ${values.length} values, expected 1`;
    else raw[key] = values[0];
  }
  return validateNoteMeta(raw);
}

/** What the index pass keeps of one record. */
interface IndexedRecord {
  readonly index: number;
  readonly offset: number;
  /** note_str when readable, else `record <index>`. */
  readonly id: string;
  readonly meta: NoteMeta | null;
  /** Set when the record cannot become a note whatever the filters. */
  readonly problem: string | null;
}

/**
 * Opens an NSynth TFRecord file: one pass checks every CRC (an NsynthError names the file and the
 * record index) and decodes the metadata; the stream then yields the selected notes in note_str
 * order. Per-record problems become skips: not an Example, invalid metadata, a note_str seen in an
 * earlier record, audio missing or not 64 000 finite samples.
 *
 * @param file a `.tfrecord` file.
 * @param filters checked here; an Error names the bad one.
 */
export async function openTfrecord(file: string, filters: NsynthFilters = {}): Promise<NsynthReader> {
  validateFilters(filters);
  const abs = path.resolve(file);
  const indexed: IndexedRecord[] = [];
  const seen = new Map<string, number>();
  for await (const rec of readTfRecords(abs)) {
    const base = { index: rec.index, offset: rec.offset };
    let features: Map<string, Feature>;
    try {
      features = decodeExample(rec.data);
    } catch (e) {
      indexed.push({ ...base, id: `record ${rec.index}`, meta: null, problem: `not a tf.train.Example (${(e as Error).message})` });
      continue;
    }
    const meta = noteMetaOfFeatures(features);
    if (typeof meta === 'string') {
      const ns = features.get('note_str');
      let id = `record ${rec.index}`;
      if (ns?.kind === 'bytes' && ns.values.length === 1) {
        try {
          id = showId(decodeUtf8(ns.values[0])).slice(1, -1);
        } catch {
          /* keep the record index */
        }
      }
      indexed.push({ ...base, id, meta: null, problem: meta });
      continue;
    }
    const earlier = seen.get(meta.note_str);
    if (earlier !== undefined) {
      indexed.push({ ...base, id: meta.note_str, meta: null, problem: `note_str already used by record ${earlier}` });
      continue;
    }
    seen.set(meta.note_str, rec.index);
    indexed.push({ ...base, id: meta.note_str, meta, problem: null });
  }
  if (indexed.length === 0) throw new NsynthError(`${abs}: holds no records`);
  indexed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.index - b.index));
  const selected: IndexedRecord[] = [];
  for (const r of indexed) {
    if (filters.limit !== undefined && selected.length >= filters.limit) break;
    if (r.meta !== null ? matchesFilters(r.meta, filters) : nameMayMatchFilters(r.id, filters)) selected.push(r);
  }
  return {
    form: 'tfrecord',
    path: abs,
    count: selected.length,
    [Symbol.asyncIterator]: () => streamRecords(abs, selected),
  };
}

async function* streamRecords(file: string, selected: readonly IndexedRecord[]): AsyncGenerator<NsynthEntry> {
  if (selected.length === 0) return;
  const fh = await openOrThrow(file);
  try {
    const size = (await fh.stat()).size;
    for (const r of selected) {
      const skip = (reason: string): NsynthEntry => ({ kind: 'skip', skip: { id: r.id, reason: `record ${r.index}: ${reason}` } satisfies NoteSkip });
      if (r.problem !== null || r.meta === null) {
        yield skip(r.problem ?? 'no metadata');
        continue;
      }
      // CRCs again: the file may have changed since it was indexed.
      const data = await readRecordAt(fh, file, size, r.offset, r.index);
      const audio = decodeExample(data).get('audio');
      if (audio === undefined) {
        yield skip(`no feature 'audio'`);
        continue;
      }
      if (audio.kind !== 'float') {
        yield skip(`feature 'audio' is a ${audio.kind} list, expected float`);
        continue;
      }
      if (audio.count !== NSYNTH_FRAMES) {
        yield skip(`audio has ${audio.count} samples, expected ${NSYNTH_FRAMES}`);
        continue;
      }
      const samples = audio.floatValues();
      const bad = samples.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) {
        yield skip(`audio sample ${bad} is not a finite number`);
        continue;
      }
      yield { kind: 'note', note: { meta: r.meta, audio: samples } };
    }
  } finally {
    await fh.close();
  }
}
