/**
 * Media embedded in the HTML report: log-mel spectrogram images (PNG) and audio clips (16-bit
 * WAV), both as `data:` URIs so that each page is one self-contained file.
 */
import { encodeWavPcm16 } from '../dsp/wav.ts';
import { prepareSignal } from '../features/distances.ts';
import { countFrames, SpectrogramPlan, SPEC_SPECTROGRAM } from '../features/spectra.ts';
import { encodePng, pngDataUri, type RasterImage } from './png.ts';

/** Playback level of embedded clips: peak at −1 dBFS, so that no clip clips and all compare at equal peak. */
export const PLAYBACK_PEAK = Math.pow(10, -1 / 20);

/** Dynamic range shown by a spectrogram image, dB below the loudest cell of its note. */
export const SPECTROGRAM_RANGE_DB = 80;

/** Viridis at 9 evenly spaced stops (perceptually uniform, readable in greyscale and by most colour-blind readers). */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84], [72, 36, 117], [59, 82, 139], [44, 114, 142], [33, 145, 140], [40, 174, 128], [94, 201, 98], [170, 220, 50], [253, 231, 37],
];

/** Viridis colour of t ∈ [0, 1] (clamped), linear between stops. */
export function viridis(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

/** A log-mel spectrogram of a note, as the distances see it. */
export interface LogMel {
  /** Row-major [frames, nMels], dB (≥ −100). */
  readonly db: Float64Array;
  readonly frames: number;
  readonly nMels: number;
}

/**
 * The spec §5 log-mel of a signal after the spec's preparation (cut or pad to 64 000 samples,
 * zero mean, peak 1): what the log-mel distance compares.
 *
 * @param samples 16 kHz mono, any length (not mutated).
 * @param plan reused across calls (not re-entrant).
 */
export function preparedLogMel(samples: Float32Array | Float64Array, plan: SpectrogramPlan): LogMel {
  const x = prepareSignal(samples);
  return { db: plan.logMel(x), frames: countFrames(x.length, plan.config.hop), nMels: plan.config.nMels };
}

/**
 * An RGB image of a log-mel spectrogram: time left to right (one pixel per frame), low mel bands
 * at the bottom (one pixel per band), viridis from `topDb − rangeDb` (dark) to `topDb` (bright).
 *
 * @param topDb the level shown brightest; share it between images that should be compared.
 * @returns [nMels, frames, 3].
 */
export function logMelImage(spec: LogMel, topDb: number, rangeDb = SPECTROGRAM_RANGE_DB): RasterImage {
  const { frames, nMels, db } = spec;
  const data = new Uint8Array(frames * nMels * 3);
  for (let m = 0; m < nMels; m++) {
    const row = nMels - 1 - m;
    for (let t = 0; t < frames; t++) {
      const [r, g, b] = viridis((db[t * nMels + m] - (topDb - rangeDb)) / rangeDb);
      const o = (row * frames + t) * 3;
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
    }
  }
  return { width: frames, height: nMels, channels: 3, data };
}

/** The loudest cell of some spectrograms, dB (−100 when there are none). */
export function maxDb(specs: readonly LogMel[]): number {
  let top = -100;
  for (const s of specs) for (const v of s.db) if (v > top) top = v;
  return top;
}

/** A spectrogram image as a PNG `data:` URI. */
export function logMelPngDataUri(spec: LogMel, topDb: number): string {
  return pngDataUri(encodePng(logMelImage(spec, topDb)));
}

/**
 * A clip as a 16-bit WAV `data:` URI, prepared as the distances see it (spec §5: 64 000 samples,
 * zero mean, peak-normalised), played at PLAYBACK_PEAK so that loudness does not bias listening.
 *
 * @param samples mono, any length (not mutated).
 * @param sampleRate Hz (16 000 for the spec's signals).
 */
export function wavDataUri(samples: Float32Array | Float64Array, sampleRate = SPEC_SPECTROGRAM.sampleRate): string {
  const wav = encodeWavPcm16(prepareSignal(samples), sampleRate, PLAYBACK_PEAK);
  return `data:audio/wav;base64,${Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength).toString('base64')}`;
}
