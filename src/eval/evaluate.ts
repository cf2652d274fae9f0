/**
 * The NSynth evaluation (spec §4–6): stream notes, predict patches with the CNN in batches, snap,
 * re-render and measure distances in worker threads, beside both baselines. Notes are processed
 * in chunks so that memory holds one chunk of audio, not the dataset.
 */
import type { DatasetConfig } from '../dataset/config.ts';
import { type CnnPredictor, predictParams } from '../model/predict.ts';
import { openNsynth } from '../nsynth/open.ts';
import type { NsynthFilters } from '../nsynth/meta.ts';
import type { Note } from '../nsynth/types.ts';
import { WorkerPool } from '../parallel/pool.ts';
import { snapParams } from '../synth/snap.ts';
import { PARAM_SPECS } from '../synth/params.ts';
import { hzOfMidi } from '../features/pitch.ts';
import type { NoteEvalResult, NoteEvalTask } from './resynth.ts';
import type { NoteResult, SkippedNote, SystemName } from './types.ts';

/** How to run an evaluation. */
export interface EvaluateOptions {
  /** NSynth folder (jsonwav) or .tfrecord file. */
  readonly nsynthPath: string;
  readonly filters: NsynthFilters;
  /** The CNN; the synth it was trained for renders the resynthesis. */
  readonly cnn: CnnPredictor;
  /**
   * Resynthesis systems that render from the note itself in this thread (DDX7: f0 and loudness
   * in, audio out), measured beside the CNN.
   */
  readonly renderers?: Partial<Record<SystemName, (audio: Float32Array, pitch: number) => Promise<Float32Array>>>;
  /** Also render `cnn_pitch`: the CNN's patch with its carrier at the note's metadata pitch. */
  readonly pitchCarrier?: boolean;
  /**
   * Renders per note for `cnn_refined` (ours): a search by re-rendering from the CNN's patch and
   * from the same patch with its carrier at the note's metadata pitch and an octave either side,
   * and at the pitch with its modulation indices scaled by 0 and by 1/4 (sparse spectra).
   * 0 or absent: off.
   */
  readonly refineEvaluations?: number;
  /** Worker threads for rendering and distances, ≥ 1. */
  readonly workers: number;
  /** Notes per chunk (predicted together, then rendered). */
  readonly chunkSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

/** What an evaluation produced. */
export interface EvaluateOutput {
  readonly results: NoteResult[];
  readonly skipped: SkippedNote[];
  readonly systems: SystemName[];
  /** Entries the reader announced (notes + skips). */
  readonly total: number;
  readonly form: 'jsonwav' | 'tfrecord';
  readonly interrupted: boolean;
  readonly seconds: number;
}

/**
 * The starting points of the `--refine` search for one note (snapped): the CNN's patch, the same
 * patch with its carrier at the note's stated pitch and an octave either side (with ratios below 1
 * the heard pitch can sit under the carrier), and at the pitch with every β scaled by 0 and by 1/4
 * (the prediction's β, before snapping to range: a β of 9 gives 2.25).
 *
 * The sparse starts matter for the log-mel distance: it weighs quiet cells like loud ones, and
 * where a note is quiet (between and above its harmonics) the CNN's β put sidebands. On the 51
 * fixture notes at 400 renders they took the refined patch's log-mel improvement over the pitched
 * sine from −0.05 % to +10.0 % (FFT +33.9 → +36.0 %, STFT +38.9 → +42.3 %).
 *
 * @param predicted the CNN's 15 parameters (original units, not snapped)
 * @param pitch the note's MIDI pitch (metadata)
 */
export function refineStarts(predicted: readonly number[], pitch: number): number[][] {
  const pitchHz = hzOfMidi(pitch);
  const atPitch = (multiple: number, betaGain: number): number[] => snapParams(predicted.map((v, j) => (j === 0 ? pitchHz * multiple : PARAM_SPECS[j]!.name.startsWith('beta_') ? v * betaGain : v)));
  return [snapParams(predicted), atPitch(1, 1), atPitch(0.5, 1), atPitch(2, 1), atPitch(1, 0), atPitch(1, 0.25)];
}

/**
 * Largest deviation from its mean (linear, full scale 1) at which a note counts as silent: one step
 * of 16-bit PCM, NSynth's WAV resolution. Below it there is nothing a 16-bit file can hold but
 * rounding noise, and every distance is measured after removing the mean and scaling to peak 1
 * (spec §5), so such a note would be compared as an all-zero signal: the pitched-sine baseline is
 * silent too (distance 0), the CNN is asked for a patch of nothing, and its distances and its
 * carrier's cents from the pitch enter the family means as if they were results.
 */
export const SILENT_PEAK = 1 / 32768;

/**
 * Why a note is skipped as silent, or null when it is not: its samples all lie within
 * {@link SILENT_PEAK} of their mean (an all-zero note, a constant offset, a lone ±1 LSB).
 *
 * @param audio the note, any length, full scale 1
 */
export function silentNoteReason(audio: Float32Array): string | null {
  let sum = 0;
  for (let i = 0; i < audio.length; i++) sum += audio[i]!;
  const mean = audio.length > 0 ? sum / audio.length : 0;
  let peak = 0;
  for (let i = 0; i < audio.length; i++) peak = Math.max(peak, Math.abs(audio[i]! - mean));
  // A NaN sample makes peak NaN: not silent here; the CNN's unusable prediction skips it.
  if (!(peak <= SILENT_PEAK)) return null;
  // No comma: skipped.csv's reasons stay one field for naive readers too.
  return `silent (peak ${peak === 0 ? '0' : peak.toExponential(2)} about the mean; at most one 16-bit step of 1/32768)`;
}

/** Runs the evaluation. Throws an Error (one line) for a dataset-level problem. */
export async function evaluateNsynth(opts: EvaluateOptions): Promise<EvaluateOutput> {
  const t0 = performance.now();
  const reader = await openNsynth(opts.nsynthPath, opts.filters);
  const synth: DatasetConfig = opts.cnn.synth;
  const pool = new WorkerPool<NoteEvalTask, NoteEvalResult>(new URL('./note-worker.ts', import.meta.url), synth, opts.workers);
  const results: NoteResult[] = [];
  const skipped: SkippedNote[] = [];
  const chunkSize = opts.chunkSize ?? 128;
  let done = 0;
  let chunk: Note[] = [];
  let interrupted = false;

  // Two stages overlap: while the workers render and measure chunk k, this thread reads and
  // predicts chunk k + 1 (the CNN runs here, the distances there).
  let inflight: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const notes = chunk;
    chunk = [];
    const predicted = predictParams(opts.cnn, notes.map((n) => n.audio));
    const rendered: Partial<Record<SystemName, Float32Array>>[] = [];
    for (const note of notes) {
      const r: Partial<Record<SystemName, Float32Array>> = {};
      for (const [system, render] of Object.entries(opts.renderers ?? {}) as [SystemName, (a: Float32Array, p: number) => Promise<Float32Array>][]) {
        r[system] = await render(note.audio, note.meta.pitch);
      }
      rendered.push(r);
    }
    const tasks: { task: NoteEvalTask; transfer: ArrayBuffer[] }[] = [];
    const pending: { meta: Note['meta']; predicted: Partial<Record<SystemName, number[]>>; snapped: Partial<Record<SystemName, number[]>> }[] = [];
    notes.forEach((note, i) => {
      const raw: Partial<Record<SystemName, number[]>> = { cnn: predicted[i] };
      // The same patch at the pitch NSynth states (clipped to the carrier's range by snapping).
      if (opts.pitchCarrier) raw.cnn_pitch = [hzOfMidi(note.meta.pitch), ...predicted[i].slice(1)];
      const snapped: Partial<Record<SystemName, number[]>> = {};
      try {
        for (const [system, values] of Object.entries(raw) as [SystemName, number[]][]) snapped[system] = snapParams(values);
      } catch (e) {
        // A model that outputs NaN for a note must not yield a plausible-looking patch.
        skipped.push({ id: note.meta.note_str, reason: `CNN prediction unusable: ${(e as Error).message}` });
        done++;
        return;
      }
      // The audio goes to the worker (transferred, not copied); nothing here needs it afterwards.
      // A view into a larger buffer (a TFRecord record) is copied first so only it moves.
      const own = note.audio.byteOffset === 0 && note.audio.byteLength === note.audio.buffer.byteLength ? note.audio : note.audio.slice();
      const extra = rendered[i];
      const transfer = [own.buffer as ArrayBuffer, ...Object.values(extra).map((a) => a.buffer as ArrayBuffer)];
      const refine = opts.refineEvaluations ? { evaluations: opts.refineEvaluations, starts: refineStarts(predicted[i], note.meta.pitch) } : undefined;
      tasks.push({ task: { index: pending.length, pitch: note.meta.pitch, audio: own, snapped, rendered: extra, refine }, transfer });
      pending.push({ meta: note.meta, predicted: raw, snapped });
    });
    await inflight;
    inflight = (async () => {
      const byIndex = new Map<number, NoteEvalResult>();
      // Without --refine the workers get the whole chunk at once: this thread then runs the CNN on
      // the next chunk for seconds without answering them, and on-demand feeding left them idle
      // meanwhile (1.4 of 2 cores busy). With --refine (seconds per note, uneven) they take 4 notes
      // at a time, and Ctrl-C stops handing out notes; the notes already measured are kept.
      await pool.run(
        tasks,
        4,
        (r) => {
          byIndex.set(r.index, r);
          done++;
          opts.onProgress?.(done, reader.count);
        },
        opts.signal,
        opts.refineEvaluations ? 1 : Infinity,
      );
      // Results in stream order (note_str order), whatever order the workers finished in.
      pending.forEach((p, index) => {
        const r = byIndex.get(index);
        if (!r && opts.signal?.aborted) return;
        if (!r) throw new Error(`internal: no result for note ${p.meta.note_str}`);
        if (r.refined) {
          // A search result, not a model output: both columns hold the patch it found.
          p.predicted.cnn_refined = r.refined.params;
          p.snapped.cnn_refined = r.refined.params;
        }
        results.push({ meta: p.meta, predicted: p.predicted, snapped: p.snapped, distances: r.distances });
      });
    })();
    // Keep an unhandled rejection from surfacing before the next await picks it up.
    inflight.catch(() => undefined);
  };

  try {
    for await (const entry of reader) {
      if (opts.signal?.aborted) {
        interrupted = true;
        break;
      }
      if (entry.kind === 'skip') {
        skipped.push({ id: entry.skip.id, reason: entry.skip.reason });
        done++;
        opts.onProgress?.(done, reader.count);
        continue;
      }
      const silent = silentNoteReason(entry.note.audio);
      if (silent !== null) {
        skipped.push({ id: entry.note.meta.note_str, reason: silent });
        done++;
        opts.onProgress?.(done, reader.count);
        continue;
      }
      chunk.push(entry.note);
      if (chunk.length >= chunkSize) await flush();
    }
    if (!interrupted) await flush();
    await inflight;
    // An interrupt during the last chunk leaves its unmeasured notes out: say so.
    if (opts.signal?.aborted) interrupted = true;
  } finally {
    await pool.close();
  }
  return { results, skipped, systems: ['cnn', ...(opts.pitchCarrier ? (['cnn_pitch'] as SystemName[]) : []), ...(opts.refineEvaluations ? (['cnn_refined'] as SystemName[]) : []), ...(Object.keys(opts.renderers ?? {}) as SystemName[]), 'sine440', 'pitched'], total: reader.count, form: reader.form, interrupted, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Reads the original audio of a few notes (the report's examples) in a second pass over the
 * stream: cheaper than holding every note's audio through the run.
 */
export async function collectAudio(nsynthPath: string, filters: NsynthFilters, noteStrs: ReadonlySet<string>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  if (noteStrs.size === 0) return out;
  const reader = await openNsynth(nsynthPath, filters);
  for await (const entry of reader) {
    if (entry.kind === 'note' && noteStrs.has(entry.note.meta.note_str)) {
      out.set(entry.note.meta.note_str, entry.note.audio);
      if (out.size === noteStrs.size) break;
    }
  }
  return out;
}
