/**
 * NSynth note metadata (`../shared/reference/nsynth-format.md`): the 13 fields of `examples.json`
 * and of the TFRecord's `tf.train.Example`, validated by the readers.
 */

/** Instrument families, by id 0–10. */
export const NSYNTH_FAMILIES: readonly string[] = Object.freeze([
  'bass', 'brass', 'flute', 'guitar', 'keyboard', 'mallet', 'organ', 'reed', 'string', 'synth_lead', 'vocal',
]);

/** Instrument sources, by id 0–2. */
export const NSYNTH_SOURCES: readonly string[] = Object.freeze(['acoustic', 'electronic', 'synthetic']);

/** Note qualities, in bit order. */
export const NSYNTH_QUALITIES: readonly string[] = Object.freeze([
  'bright', 'dark', 'distortion', 'fast_decay', 'long_release', 'multiphonic', 'nonlinear_env', 'percussive', 'reverb', 'tempo-synced',
]);

/** One note's metadata. */
export interface NoteMeta {
  /** Global note id. */
  readonly note: number;
  /** `<instrument_str>-<PPP>-<VVV>`, e.g. `guitar_acoustic_010-066-100`. */
  readonly note_str: string;
  readonly instrument: number;
  /** `<family>_<source>_<NNN>`. */
  readonly instrument_str: string;
  /** MIDI pitch, 21–108 in NSynth (0–127 accepted). */
  readonly pitch: number;
  /** MIDI velocity. */
  readonly velocity: number;
  /** Hz (16,000). */
  readonly sample_rate: number;
  /** 10 flags, 0/1, in NSYNTH_QUALITIES order. */
  readonly qualities: readonly number[];
  readonly qualities_str: readonly string[];
  /** 0–10, index into NSYNTH_FAMILIES. */
  readonly instrument_family: number;
  readonly instrument_family_str: string;
  /** 0–2, index into NSYNTH_SOURCES. */
  readonly instrument_source: number;
  readonly instrument_source_str: string;
}

/** A note with its audio. */
export interface Note {
  readonly meta: NoteMeta;
  /** 16 kHz mono samples in [-1, 1], shape [64000]. */
  readonly audio: Float32Array;
}
