/**
 * What both NSynth readers share: field-by-field validation of a note's 13 metadata fields, the
 * note filters, and the shape of the stream they yield (notes and counted skips, in one sequence).
 */
import { NSYNTH_FAMILIES, NSYNTH_QUALITIES, NSYNTH_SOURCES, type Note, type NoteMeta } from './types.ts';

/** NSynth's fixed sample rate, Hz. */
export const NSYNTH_SAMPLE_RATE = 16000;
/** Frames per NSynth note: 4 s at 16 kHz. */
export const NSYNTH_FRAMES = 64000;

/** The 13 metadata keys, in the order of the format description. */
export const NOTE_META_KEYS: readonly (keyof NoteMeta)[] = Object.freeze([
  'note', 'note_str', 'instrument', 'instrument_str', 'pitch', 'velocity', 'sample_rate', 'qualities', 'qualities_str',
  'instrument_family', 'instrument_family_str', 'instrument_source', 'instrument_source_str',
] as const);

/** A note the reader could not deliver, and why. */
export interface NoteSkip {
  /** The note's `note_str` (or, when even that is unusable, a description of where it was: `record 12`). */
  readonly id: string;
  /** One sentence, naming the file involved, e.g. `audio/x.wav: is 44100 Hz, expected 16000 Hz`. */
  readonly reason: string;
}

/**
 * One item of a reader's stream. Skips travel in the same sequence as notes, so a consumer cannot
 * read the notes without being handed every skip: the type makes it narrow on `kind` first.
 */
export type NsynthEntry =
  | { readonly kind: 'note'; readonly note: Note }
  | { readonly kind: 'skip'; readonly skip: NoteSkip };

/** Which notes to read. All fields optional; an empty object selects everything. */
export interface NsynthFilters {
  /** Family names (NSYNTH_FAMILIES), e.g. ['brass', 'reed']. */
  readonly families?: readonly string[];
  /** Source names (NSYNTH_SOURCES). */
  readonly sources?: readonly string[];
  /** Lowest MIDI pitch kept, inclusive. */
  readonly pitchMin?: number;
  /** Highest MIDI pitch kept, inclusive. */
  readonly pitchMax?: number;
  /**
   * At most this many entries (notes and skips together), the first in note_str order. A skip uses
   * up a place: the stream stays a prefix of the unlimited one, so `--limit` never changes which notes
   * come first. Entries with invalid metadata are kept as skips unless their name shows that the
   * family, source or pitch filter excludes them.
   */
  readonly limit?: number;
}

/** Checks filters once, up front; throws an Error naming the bad field. */
export function validateFilters(f: NsynthFilters): NsynthFilters {
  const names = (what: string, list: readonly string[] | undefined, allowed: readonly string[]): void => {
    for (const name of list ?? []) {
      if (!allowed.includes(name)) throw new Error(`unknown ${what} '${name}' (expected one of ${allowed.join(', ')})`);
    }
  };
  names('family', f.families, NSYNTH_FAMILIES);
  names('source', f.sources, NSYNTH_SOURCES);
  for (const [key, v] of [['--pitch-min', f.pitchMin], ['--pitch-max', f.pitchMax]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 127)) throw new Error(`${key} must be a MIDI pitch 0–127, got ${v}`);
  }
  if (f.pitchMin !== undefined && f.pitchMax !== undefined && f.pitchMin > f.pitchMax) {
    throw new Error(`--pitch-min ${f.pitchMin} is above --pitch-max ${f.pitchMax}`);
  }
  if (f.limit !== undefined && !(Number.isInteger(f.limit) && f.limit >= 1)) throw new Error(`--limit must be a whole number ≥ 1, got ${f.limit}`);
  return f;
}

/** True when a (valid) note passes the family, source and pitch filters (not the limit). */
export function matchesFilters(meta: NoteMeta, f: NsynthFilters): boolean {
  if (f.families && f.families.length > 0 && !f.families.includes(meta.instrument_family_str)) return false;
  if (f.sources && f.sources.length > 0 && !f.sources.includes(meta.instrument_source_str)) return false;
  if (f.pitchMin !== undefined && meta.pitch < f.pitchMin) return false;
  if (f.pitchMax !== undefined && meta.pitch > f.pitchMax) return false;
  return true;
}

/**
 * For an entry whose metadata is invalid: false when its name alone shows the filters exclude it
 * (NSynth names spell family, source and pitch), true otherwise. So a family filter does not report
 * broken notes of other families, while a broken note that might match is reported, never dropped.
 */
export function nameMayMatchFilters(id: string, f: NsynthFilters): boolean {
  const m = /^([a-z_]+)_(acoustic|electronic|synthetic)_\d{3}-(\d{3})-\d{3}$/.exec(id);
  if (m === null) return true;
  const [, family, source, pitchText] = m;
  if (!NSYNTH_FAMILIES.includes(family)) return true;
  const pitch = Number(pitchText);
  if (f.families && f.families.length > 0 && !f.families.includes(family)) return false;
  if (f.sources && f.sources.length > 0 && !f.sources.includes(source)) return false;
  if (f.pitchMin !== undefined && pitch < f.pitchMin) return false;
  if (f.pitchMax !== undefined && pitch > f.pitchMax) return false;
  return true;
}

/** `<instrument_str>-<PPP>-<VVV>`. */
export function makeNoteStr(instrumentStr: string, pitch: number, velocity: number): string {
  return `${instrumentStr}-${String(pitch).padStart(3, '0')}-${String(velocity).padStart(3, '0')}`;
}

/**
 * True when `id` can be used as a file name inside `audio/`: no path separator, no `..`, not
 * absolute, no NUL, nothing but the characters NSynth names use. Checked on its own, before (and
 * besides) the consistency checks, so that no change to those can open a path out of the folder.
 */
export function isSafeNoteStr(id: string): boolean {
  return (
    id.length > 0 &&
    id.length <= 200 &&
    !id.includes('\0') &&
    !id.includes('/') &&
    !id.includes('\\') &&
    !id.includes('..') &&
    !/^[a-zA-Z]:/.test(id) &&
    /^[a-z0-9_-]+$/.test(id)
  );
}

/** Shows an untrusted string in a one-line message (quoted, control characters escaped, shortened). */
export function showId(id: string): string {
  const s = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
  return s;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Validates one note's metadata field by field. Returns the metadata (a fresh frozen object holding
 * only the 13 keys) or the first problem found as one sentence. Extra keys are ignored, so a future
 * field does not make every note unreadable.
 *
 * @param raw the parsed JSON value or the decoded TFRecord features.
 */
export function validateNoteMeta(raw: unknown): NoteMeta | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'metadata is not an object';
  const r = raw as Record<string, unknown>;
  for (const key of NOTE_META_KEYS) {
    if (!Object.prototype.hasOwnProperty.call(r, key)) return `metadata has no '${key}'`;
  }
  const intIn = (key: string, lo: number, hi: number): string | null => {
    const v = r[key];
    return isInt(v) && v >= lo && v <= hi ? null : `'${key}' must be an integer ${lo}–${hi}, got ${JSON.stringify(v)}`;
  };
  const str = (key: string): string | null => (typeof r[key] === 'string' ? null : `'${key}' must be a string, got ${JSON.stringify(r[key])}`);
  const problem =
    intIn('note', 0, Number.MAX_SAFE_INTEGER) ??
    str('note_str') ??
    intIn('instrument', 0, Number.MAX_SAFE_INTEGER) ??
    str('instrument_str') ??
    intIn('pitch', 0, 127) ??
    intIn('velocity', 0, 127) ??
    intIn('instrument_family', 0, NSYNTH_FAMILIES.length - 1) ??
    str('instrument_family_str') ??
    intIn('instrument_source', 0, NSYNTH_SOURCES.length - 1) ??
    str('instrument_source_str');
  if (problem) return problem;
  if (r.sample_rate !== NSYNTH_SAMPLE_RATE) return `'sample_rate' must be ${NSYNTH_SAMPLE_RATE}, got ${JSON.stringify(r.sample_rate)}`;
  const q = r.qualities;
  if (!Array.isArray(q) || q.length !== NSYNTH_QUALITIES.length || !q.every((b) => b === 0 || b === 1)) {
    return `'qualities' must be ${NSYNTH_QUALITIES.length} flags 0/1, got ${JSON.stringify(q)}`;
  }
  const qs = r.qualities_str;
  if (!Array.isArray(qs) || !qs.every((s) => typeof s === 'string')) return `'qualities_str' must be a list of strings, got ${JSON.stringify(qs)}`;
  const m = r as unknown as NoteMeta;
  const family = NSYNTH_FAMILIES[m.instrument_family];
  if (m.instrument_family_str !== family) return `'instrument_family_str' is '${m.instrument_family_str}' but family ${m.instrument_family} is '${family}'`;
  const source = NSYNTH_SOURCES[m.instrument_source];
  if (m.instrument_source_str !== source) return `'instrument_source_str' is '${m.instrument_source_str}' but source ${m.instrument_source} is '${source}'`;
  // Bit order is fixed; the list order is not promised by the format, so compare as sets.
  const expectedQs = NSYNTH_QUALITIES.filter((_, i) => q[i] === 1);
  const gotQs = [...(qs as string[])].sort();
  if (gotQs.length !== expectedQs.length || [...expectedQs].sort().some((s, i) => s !== gotQs[i])) {
    return `'qualities_str' ${JSON.stringify(qs)} does not match the flags ${JSON.stringify(q)}`;
  }
  const instrumentRe = new RegExp(`^${family}_${source}_\\d{3}$`);
  if (!instrumentRe.test(m.instrument_str)) return `'instrument_str' ${showId(m.instrument_str)} is not '${family}_${source}_NNN'`;
  const expectedNoteStr = makeNoteStr(m.instrument_str, m.pitch, m.velocity);
  if (m.note_str !== expectedNoteStr) return `'note_str' ${showId(m.note_str)} does not match instrument, pitch and velocity ('${expectedNoteStr}')`;
  return Object.freeze({
    note: m.note,
    note_str: m.note_str,
    instrument: m.instrument,
    instrument_str: m.instrument_str,
    pitch: m.pitch,
    velocity: m.velocity,
    sample_rate: m.sample_rate,
    qualities: Object.freeze([...m.qualities]),
    qualities_str: Object.freeze([...m.qualities_str]),
    instrument_family: m.instrument_family,
    instrument_family_str: m.instrument_family_str,
    instrument_source: m.instrument_source,
    instrument_source_str: m.instrument_source_str,
  });
}

/** Thrown for a problem with a whole dataset (not one note): its message is one line naming the file. */
export class NsynthError extends Error {}

/** Everything a stream held, notes and skips kept together. */
export interface NsynthCollected {
  readonly notes: Note[];
  readonly skips: NoteSkip[];
}

/** Reads a whole stream into memory (for small sets and tests): notes and skips, in stream order. */
export async function collectNsynth(stream: AsyncIterable<NsynthEntry>): Promise<NsynthCollected> {
  const notes: Note[] = [];
  const skips: NoteSkip[] = [];
  for await (const e of stream) {
    if (e.kind === 'note') notes.push(e.note);
    else skips.push(e.skip);
  }
  return { notes, skips };
}

/** An opened NSynth dataset: its stream of entries, with the size of that stream known up front. */
export interface NsynthReader extends AsyncIterable<NsynthEntry> {
  /** Which official form the data is in. */
  readonly form: 'jsonwav' | 'tfrecord';
  /** The folder (jsonwav) or file (tfrecord), absolute. */
  readonly path: string;
  /**
   * Entries the stream yields (notes and skips; after filters and limit). Skips found later, while
   * reading audio, replace a note one for one, so this count never changes: progress bars can use it.
   */
  readonly count: number;
}
