/** Builders of synthetic evaluation results for the report tests (no evaluator, no NSynth). */
import type { DistanceSet, NoteResult, SystemName } from '../src/eval/types.ts';
import { NSYNTH_FAMILIES, NSYNTH_SOURCES, type NoteMeta } from '../src/nsynth/types.ts';

/** Cells of a spec log-mel spectrogram (128 bands × 126 frames): raw / normalized. */
export const LOGMEL_CELLS = 128 * 126;

/** NSynth-shaped metadata for a note of `<family>_<source>_<instrumentNo>` at a pitch and velocity. */
export function makeMeta(family: string, instrumentNo: number, pitch: number, velocity: number, source = 'acoustic'): NoteMeta {
  const instrument_str = `${family}_${source}_${String(instrumentNo).padStart(3, '0')}`;
  const familyId = NSYNTH_FAMILIES.indexOf(family);
  const sourceId = NSYNTH_SOURCES.indexOf(source);
  return {
    note: familyId * 1000 + instrumentNo * 100 + pitch,
    note_str: `${instrument_str}-${String(pitch).padStart(3, '0')}-${String(velocity).padStart(3, '0')}`,
    instrument: familyId * 10 + instrumentNo,
    instrument_str,
    pitch,
    velocity,
    sample_rate: 16000,
    qualities: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    qualities_str: [],
    instrument_family: familyId,
    instrument_family_str: family,
    instrument_source: sourceId,
    instrument_source_str: source,
  };
}

/** A distance set whose STFT and log-mel are fixed multiples of the FFT distance (10×, 100×), so improvements are equal across metrics. */
export function scaledDistances(fft: number): DistanceSet {
  const logmel = fft * 100;
  return { fft, stft: fft * 10, logmel, logmel_normalized: logmel / LOGMEL_CELLS };
}

/** A result with the given FFT distances per system (others derived by `scaledDistances`). */
export function makeResult(meta: NoteMeta, fftBySystem: Partial<Record<SystemName, number>>, params?: Partial<Record<SystemName, readonly number[]>>): NoteResult {
  const distances: Partial<Record<SystemName, DistanceSet>> = {};
  for (const [s, v] of Object.entries(fftBySystem) as [SystemName, number][]) distances[s] = scaledDistances(v);
  return { meta, predicted: params ?? {}, snapped: params ?? {}, distances };
}
