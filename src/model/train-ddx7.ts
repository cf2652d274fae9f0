/**
 * Training DDX7 (paper §4) on a corpus of one instrument: excerpts with their f0 and loudness
 * frames, the multi-scale spectral loss, Adam 3e-4 decayed ×0.98 every N steps, gradient clipping
 * at global norm 2. A checkpoint (weights + Adam state + step) every few steps, so an interrupted
 * run resumes where it stopped; batches are a function of (seed, step), so a resumed run sees the
 * batches the uninterrupted one would have.
 *
 * Excerpts are short by default (1 s instead of the paper's 4 s) to make CPU training practical:
 * the loss and the reverb cost ≈ 5·10⁸ multiply-adds per second of audio, forward.
 */
import { loudnessDb } from '../features/loudness.ts';
import { f0FromMetadata, trackPitch } from '../features/pitch.ts';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { decodeWav } from '../dsp/wav.ts';
import { openNsynth } from '../nsynth/open.ts';
import { type BackendInfo } from './backend.ts';
import { controlInputs, createDdx7, type Ddx7Config, DDX7_FILES, ddx7Forward, disposeDdx7, loadDdx7Weights, parameterCount, saveDdx7Weights, type Ddx7Model } from './ddx7.ts';
import { DDX7_HOP, DDX7_SAMPLE_RATE, multiScaleSpectralLoss } from './ddx7-synth.ts';
import { TRAIN_FILES } from './train-cnn.ts';
import { MANIFEST_FILE, PARAMS_FILE } from '../dataset/layout.ts';
import { loadCheckpointPart, loadNamedTensors, optionDifferences, readCheckpointJson, saveNamedTensors, yieldToEventLoop } from './io.ts';
import { stepSeed } from './seeds.ts';

/** Frame rate of the controls, frames/s. */
export const DDX7_FRAME_RATE = DDX7_SAMPLE_RATE / DDX7_HOP;

/** f0 and loudness extractors (the interface of src/features/pitch.ts and loudness.ts). */
export interface Ddx7Features {
  /** What computed the features (recorded in the model config). */
  readonly describe: { readonly f0: string; readonly loudness: string };
  /** f0 and confidence every 64 samples at 16 kHz; absent: only metadata pitch (NSynth) is usable. */
  readonly estimateF0?: (audio: Float32Array, sampleRate: number) => { f0Hz: Float32Array; confidence: Float32Array };
  /** Loudness in dB every 64 samples at 16 kHz. */
  readonly loudnessDb: (audio: Float32Array, sampleRate: number) => Float32Array;
}

/**
 * The control features at the model's frame grid: frame k covers samples [64k, 64k + 64), so a
 * signal of n samples has ⌊n / 64⌋ frames. The feature extractors centre frame t on sample 64t
 * (1 + ⌈n / 64⌉ frames); their first ⌊n / 64⌋ frames are the ones whose centre starts block k.
 */
function onModelGrid(x: Float32Array, samples: number): Float32Array {
  return x.subarray(0, Math.floor(samples / DDX7_HOP));
}

/**
 * The features to train with: YIN f0 and confidence (`src/features/pitch.ts`) and DDX7's
 * A-weighted loudness (`src/features/loudness.ts`), on the model's frame grid.
 */
export async function resolveDdx7Features(): Promise<Ddx7Features> {
  return {
    describe: { f0: 'YIN with confidence (src/features/pitch.ts); NSynth notes: their metadata pitch', loudness: 'A-weighted loudness, DDX7 definition (src/features/loudness.ts)' },
    estimateF0: (audio, sampleRate) => {
      if (sampleRate !== DDX7_SAMPLE_RATE) throw new Error(`f0: expected ${DDX7_SAMPLE_RATE} Hz, got ${sampleRate}`);
      const t = trackPitch(audio);
      return { f0Hz: onModelGrid(t.f0Hz, audio.length), confidence: onModelGrid(t.confidence, audio.length) };
    },
    loudnessDb: (audio, sampleRate) => {
      if (sampleRate !== DDX7_SAMPLE_RATE) throw new Error(`loudness: expected ${DDX7_SAMPLE_RATE} Hz, got ${sampleRate}`);
      return onModelGrid(loudnessDb(audio), audio.length);
    },
  };
}

/** One training excerpt. */
export interface Ddx7Excerpt {
  /** Where it came from (`<file or note>@<start s>`). */
  readonly source: string;
  /** Audio at 16 kHz, [frames·64]. */
  readonly audio: Float32Array;
  /** f0 per frame, Hz, [frames]. */
  readonly f0Hz: Float32Array;
  /** Loudness per frame, dB, [frames]. */
  readonly loudnessDb: Float32Array;
}

/**
 * Why something was left out. The first three drop a whole file (or NSynth note): the user may
 * have to fix it. The last two drop one excerpt of a file that was read, which is the normal way a
 * recording's pauses are left out.
 */
export type Ddx7SkipKind = 'unreadable' | 'too short' | 'silent file' | 'silent excerpt' | 'unpitched excerpt';

/** Kinds that drop a whole file or note. */
export const DDX7_FILE_SKIPS: readonly Ddx7SkipKind[] = ['unreadable', 'too short', 'silent file'];

/** A skipped file or excerpt and why. */
export interface Ddx7Skip {
  /** File name (WAV folders), note_str (NSynth) or `<either>@<start s>` (an excerpt). */
  readonly source: string;
  readonly kind: Ddx7SkipKind;
  /** One sentence: what was wrong with it. */
  readonly reason: string;
}

/**
 * What defines a corpus, recorded in the checkpoint so that a resume can refuse other data: the
 * options that selected it and a SHA-256 of the excerpts themselves (sources, audio, f0 and
 * loudness, in order: batches index excerpts by position).
 */
export interface Ddx7CorpusRecord {
  /** `--data`, absolute. */
  readonly data: string;
  readonly form: 'nsynth' | 'wav';
  /** Sorted, or null: every family. */
  readonly families: readonly string[] | null;
  readonly instrument: string | null;
  readonly limit: number | null;
  readonly silenceDb: number;
  readonly minConfidence: number;
  /** Files or notes read (not counting unreadable ones). */
  readonly files: number;
  readonly excerpts: number;
  /** `sha256:<hex>` of the excerpts. */
  readonly excerptHash: string;
}

/** A loaded corpus. */
export interface Ddx7Corpus {
  readonly excerpts: Ddx7Excerpt[];
  /** Skipped files and excerpts, in reading order. */
  readonly skipped: Ddx7Skip[];
  /** Files (or notes) whose audio was read, including those then skipped as too short or silent. */
  readonly files: number;
  readonly record: Ddx7CorpusRecord;
}

/** Options of {@link loadDdx7Corpus}. */
export interface CorpusOptions {
  /** Excerpt length, s (a whole number of 4 ms frames). */
  readonly excerptSec: number;
  /**
   * Start-to-start distance of excerpts, s (a whole number of 4 ms frames); default `excerptSec`
   * (non-overlapping). Shorter hops give overlapping excerpts: more of them from a small corpus,
   * and excerpts that span a note's release.
   */
  readonly hopSec?: number;
  /** NSynth layouts: families to keep. */
  readonly families?: readonly string[];
  /** NSynth layouts: one instrument_str (e.g. `flute_acoustic_002`). */
  readonly instrument?: string;
  /** At most this many files / notes. */
  readonly limit?: number;
  /** Excerpts in which no frame's loudness reaches this are skipped as silent, dB. */
  readonly silenceDb: number;
  /** Excerpts whose mean f0 confidence is below this are skipped as unpitched (facts: 0.85). */
  readonly minConfidence: number;
  readonly features: Ddx7Features;
  /**
   * Called for each file or note dropped whole, as soon as it is found (so a long read reports
   * problems as they appear, and a corpus with no usable excerpt still names its bad files).
   */
  readonly onFileSkip?: (skip: Ddx7Skip) => void;
}

/** A problem with the corpus or a checkpoint the user must fix: the CLI prints it as one line. */
export class Ddx7TrainError extends Error {}

/** A duration as a whole number of 4 ms control frames (≥ 1), or a one-line error naming the option. */
function controlFrames(sec: number, option: string): number {
  const frames = sec * DDX7_FRAME_RATE;
  const whole = Math.round(frames);
  if (!(Math.abs(frames - whole) < 1e-6 && whole >= 1)) throw new Ddx7TrainError(`${option} must be a positive multiple of 4 ms, got ${sec}`);
  return whole;
}

function max(a: Float32Array, from: number, to: number): number {
  let m = -Infinity;
  for (let i = from; i < to; i++) if (a[i] > m) m = a[i];
  return m;
}

function mean(a: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i];
  return s / Math.max(1, to - from);
}

/**
 * Cuts one file or note into excerpts. `confidence` null: the pitch is known (NSynth metadata), so
 * no excerpt is unpitched; only silent ones are skipped. That keeps a note's release and the
 * silence after it, which the decoder must learn to render (the evaluation renders whole notes).
 */
function cutExcerpts(name: string, audio: Float32Array, f0Hz: Float32Array, confidence: Float32Array | null, loud: Float32Array, opts: CorpusOptions, out: CorpusBuilder): void {
  const frames = controlFrames(opts.excerptSec, '--excerpt-sec');
  const hop = controlFrames(opts.hopSec ?? opts.excerptSec, '--hop-sec');
  const have = Math.min(f0Hz.length, loud.length, Math.floor(audio.length / DDX7_HOP));
  if (have < frames) {
    out.skipFile({ source: name, kind: 'too short', reason: `${(audio.length / DDX7_SAMPLE_RATE).toFixed(2)} s, shorter than one ${opts.excerptSec} s excerpt` });
    return;
  }
  for (let k = 0; k + frames <= have; k += hop) {
    const source = `${name}@${(k / DDX7_FRAME_RATE).toFixed(2)}s`;
    // Silent only when no frame reaches the threshold: an excerpt across a note's end (half sound,
    // half silence) is exactly what teaches the decoder to stop.
    if (max(loud, k, k + frames) < opts.silenceDb) out.skipped.push({ source, kind: 'silent excerpt', reason: `no frame reaches ${opts.silenceDb} dB` });
    else if (confidence !== null && mean(confidence, k, k + frames) < opts.minConfidence) out.skipped.push({ source, kind: 'unpitched excerpt', reason: `mean f0 confidence below ${opts.minConfidence}` });
    else {
      out.excerpts.push({
        source,
        audio: audio.slice(k * DDX7_HOP, (k + frames) * DDX7_HOP),
        f0Hz: f0Hz.slice(k, k + frames),
        loudnessDb: loud.slice(k, k + frames),
      });
    }
  }
}

/** A corpus being read: {@link Ddx7Corpus} with a way to report whole-file skips as they happen. */
interface CorpusBuilder {
  readonly excerpts: Ddx7Excerpt[];
  readonly skipped: Ddx7Skip[];
  files: number;
  skipFile(skip: Ddx7Skip): void;
}

/** `kind: count` of the skips, in {@link Ddx7SkipKind} order, counted apart for files and excerpts. */
export function countDdx7Skips(skipped: readonly Ddx7Skip[]): { files: number; excerpts: number; byKind: ReadonlyMap<Ddx7SkipKind, number> } {
  const byKind = new Map<Ddx7SkipKind, number>();
  for (const k of [...DDX7_FILE_SKIPS, 'silent excerpt', 'unpitched excerpt'] as const) byKind.set(k, 0);
  for (const s of skipped) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + 1);
  let files = 0;
  for (const k of DDX7_FILE_SKIPS) files += byKind.get(k) ?? 0;
  return { files, excerpts: skipped.length - files, byKind };
}

/**
 * The skips as one clause, files and excerpts apart, e.g. `files skipped: 1 unreadable, 1 too short;
 * excerpts skipped: 6 silent`; `none skipped` when there are none.
 */
export function describeDdx7Skips(skipped: readonly Ddx7Skip[]): string {
  const { byKind } = countDdx7Skips(skipped);
  const part = (kinds: readonly Ddx7SkipKind[], strip: string): string =>
    kinds
      .filter((k) => (byKind.get(k) ?? 0) > 0)
      .map((k) => `${byKind.get(k)} ${k.replace(strip, '')}`)
      .join(', ');
  const files = part(DDX7_FILE_SKIPS, ' file');
  const excerpts = part(['silent excerpt', 'unpitched excerpt'], ' excerpt');
  const parts = [...(files ? [`files skipped: ${files}`] : []), ...(excerpts ? [`excerpts skipped: ${excerpts}`] : [])];
  return parts.length ? parts.join('; ') : 'none skipped';
}

/** SHA-256 over the excerpts in order: their sources, audio, f0 and loudness bytes. */
function hashExcerpts(excerpts: readonly Ddx7Excerpt[]): string {
  const h = createHash('sha256');
  const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const e of excerpts) {
    // Lengths before contents: no two different excerpt lists can give the same byte stream.
    const head = new Uint32Array([Buffer.byteLength(e.source), e.audio.length, e.f0Hz.length, e.loudnessDb.length]);
    h.update(new Uint8Array(head.buffer));
    h.update(e.source);
    h.update(bytes(e.audio));
    h.update(bytes(e.f0Hz));
    h.update(bytes(e.loudnessDb));
  }
  return `sha256:${h.digest('hex')}`;
}

/** `flute_acoustic_002` of a note name `flute_acoustic_002-060-100`; null when the name is not of that form. */
function instrumentOfNoteName(id: string): string | null {
  const m = /^([a-z_]+_(?:acoustic|electronic|synthetic)_\d{3})-\d{3}-\d{3}$/.exec(id);
  return m ? m[1] : null;
}

/**
 * Reads a corpus: an NSynth jsonwav folder (examples.json + audio/) or a folder of 16 kHz mono
 * WAVs, cut into excerpts (every `hopSec`). Unreadable, too short and (WAV folders) silent files
 * are skipped whole and reported through `onFileSkip`; silent excerpts and (for WAVs, whose f0 is
 * tracked) unpitched excerpts are skipped one by one. Every skip is in `skipped` with its kind.
 * `limit` counts the files or notes tried, unreadable ones included.
 *
 * @throws Ddx7TrainError when the folder is unusable or yields no excerpt.
 */
export async function loadDdx7Corpus(dir: string, opts: CorpusOptions): Promise<Ddx7Corpus> {
  controlFrames(opts.excerptSec, '--excerpt-sec');
  if (opts.hopSec !== undefined) controlFrames(opts.hopSec, '--hop-sec');
  if (!existsSync(dir)) throw new Ddx7TrainError(`${dir}: no such folder`);
  if (!statSync(dir).isDirectory()) throw new Ddx7TrainError(`${dir}: a file, not a folder (--data is an NSynth jsonwav folder or a folder of WAVs)`);
  const corpus: CorpusBuilder = {
    excerpts: [],
    skipped: [],
    files: 0,
    skipFile(skip) {
      this.skipped.push(skip);
      opts.onFileSkip?.(skip);
    },
  };
  let unreadable = 0;
  const full = (): boolean => opts.limit !== undefined && corpus.files + unreadable >= opts.limit;
  const form = existsSync(path.join(dir, 'examples.json')) ? 'nsynth' : 'wav';
  if (form === 'nsynth') {
    let reader;
    try {
      reader = await openNsynth(dir, { ...(opts.families ? { families: opts.families } : {}) });
    } catch (e) {
      throw new Ddx7TrainError((e as Error).message);
    }
    for await (const entry of reader) {
      if (full()) break;
      if (entry.kind === 'skip') {
        // A note of another instrument is not part of this corpus, readable or not.
        const of = instrumentOfNoteName(entry.skip.id);
        if (opts.instrument !== undefined && of !== null && of !== opts.instrument) continue;
        unreadable++;
        corpus.skipFile({ source: entry.skip.id, kind: 'unreadable', reason: entry.skip.reason });
        continue;
      }
      const { meta, audio } = entry.note;
      if (opts.instrument !== undefined && meta.instrument_str !== opts.instrument) continue;
      corpus.files++;
      const loud = opts.features.loudnessDb(audio, DDX7_SAMPLE_RATE);
      // NSynth notes are steady at their metadata pitch (the issue: use it when given), so every
      // non-silent excerpt is pitched, the release included.
      const f0 = f0FromMetadata(meta.pitch, loud.length);
      cutExcerpts(meta.note_str, audio, f0, null, loud, opts, corpus);
    }
  } else {
    const wavs = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.wav')).sort();
    if (wavs.length === 0) throw new Ddx7TrainError(`${dir}: neither an NSynth folder (examples.json + audio/) nor a folder of WAV files`);
    for (const f of wavs) {
      if (full()) break;
      let audio: Float32Array;
      try {
        audio = decodeWav(new Uint8Array(await readFile(path.join(dir, f))), { sampleRate: DDX7_SAMPLE_RATE, mono: true }).samples;
      } catch (e) {
        unreadable++;
        const code = (e as NodeJS.ErrnoException).code;
        corpus.skipFile({ source: f, kind: 'unreadable', reason: code ? `cannot be read (${code})` : (e as Error).message });
        continue;
      }
      corpus.files++;
      const loud = opts.features.loudnessDb(audio, DDX7_SAMPLE_RATE);
      if (max(loud, 0, loud.length) < opts.silenceDb) {
        corpus.skipFile({ source: f, kind: 'silent file', reason: `no frame reaches ${opts.silenceDb} dB` });
        continue;
      }
      if (!opts.features.estimateF0) throw new Ddx7TrainError(`${f}: a folder of WAVs needs an f0 tracker (src/features/pitch.ts), which this build lacks; use an NSynth-layout folder`);
      const { f0Hz, confidence } = opts.features.estimateF0(audio, DDX7_SAMPLE_RATE);
      cutExcerpts(f, audio, f0Hz, confidence, loud, opts, corpus);
    }
  }
  if (corpus.excerpts.length === 0) {
    const first = corpus.skipped.find((s) => s.kind === 'unreadable');
    throw new Ddx7TrainError(
      `${dir}: no usable ${opts.excerptSec} s excerpt in ${corpus.files} file(s) read (${describeDdx7Skips(corpus.skipped)}${first ? `; first unreadable: ${first.source}: ${first.reason}` : ''})`,
    );
  }
  const record: Ddx7CorpusRecord = {
    data: dir,
    form,
    families: opts.families && opts.families.length > 0 ? [...new Set(opts.families)].sort() : null,
    instrument: opts.instrument ?? null,
    limit: opts.limit ?? null,
    silenceDb: opts.silenceDb,
    minConfidence: opts.minConfidence,
    files: corpus.files,
    excerpts: corpus.excerpts.length,
    excerptHash: hashExcerpts(corpus.excerpts),
  };
  return { excerpts: corpus.excerpts, skipped: corpus.skipped, files: corpus.files, record };
}

/** What determines a training run (a resume must match it, except `steps`). */
export interface TrainDdx7Config {
  readonly model: Ddx7Config;
  /** Total optimisation steps. */
  readonly steps: number;
  /** Excerpts per step (paper: 16). */
  readonly batchSize: number;
  /** Adam learning rate (paper: 3e-4). */
  readonly learningRate: number;
  /** The rate is multiplied by `decayRate` every `decayEvery` steps (paper: 0.98 every 10 k). */
  readonly decayEvery: number;
  readonly decayRate: number;
  /** Global gradient-norm clip (paper: 2). */
  readonly clipNorm: number;
  /** Steps between checkpoints. */
  readonly checkpointEvery: number;
  /** Seed of the batches. */
  readonly seed: number;
  /** Excerpt length, s. */
  readonly excerptSec: number;
  /** Start-to-start distance of the corpus's excerpts, s (absent in runs from before the option: = excerptSec). */
  readonly hopSec?: number;
}

/** Adam whose learning rate can follow a schedule (tfjs keeps it in a protected field). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

/** Learning rate at a 1-based step. */
export function learningRateAt(config: Pick<TrainDdx7Config, 'learningRate' | 'decayEvery' | 'decayRate'>, step: number): number {
  return config.learningRate * Math.pow(config.decayRate, Math.floor((step - 1) / config.decayEvery));
}

/**
 * One optimisation step: forward with dropout, multi-scale spectral loss, gradients of every
 * variable, global-norm clipping, optimizer update.
 *
 * @param f0Hz [batch, frames] row-major, Hz
 * @param inputs decoder inputs [batch, frames, 2] row-major
 * @param target audio [batch, frames·64] row-major
 * @param dropoutSeed seed of this step's dropout masks (absent: unseeded)
 * @returns the loss before the update
 */
export function ddx7TrainStep(model: Ddx7Model, optimizer: tf.Optimizer, f0Hz: Float32Array, inputs: Float32Array, target: Float32Array, batchSize: number, clipNorm: number, dropoutSeed?: number): number {
  const varList = [...model.vars.values()];
  return tf.tidy(() => {
    const targetT = tf.tensor2d(target, [batchSize, target.length / batchSize]);
    const { value, grads } = tf.variableGrads(() => {
      const out = ddx7Forward(model, f0Hz, inputs, batchSize, { training: true, dropoutSeed });
      return multiScaleSpectralLoss(out.audio, targetT);
    }, varList);
    // Global-norm clipping (paper §4: 2), over every variable's gradient together.
    const list = varList.map((v) => grads[v.name]);
    const norm = Math.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
    const scale = Number.isFinite(norm) && norm > clipNorm ? clipNorm / norm : 1;
    optimizer.applyGradients(varList.map((v, i) => ({ name: v.name, tensor: scale === 1 ? list[i] : tf.mul(list[i], scale) })));
    return value.dataSync()[0];
  });
}

/** Adam with a settable learning rate, as train-ddx7 uses it (β1 0.9, β2 0.999, ε 1e-7). */
export function createDdx7Optimizer(learningRate: number): tf.Optimizer & { setLearningRate(lr: number): void } {
  return new ScheduledAdam(learningRate, 0.9, 0.999, 1e-7);
}

/** Progress callbacks. */
export interface TrainDdx7Hooks {
  onStep?: (step: number, steps: number, loss: number, stepsPerSec: number) => void;
  /** Aborting stops after the current step and writes a checkpoint. */
  signal?: AbortSignal;
}

/** Summary of a run. */
export interface TrainDdx7Summary {
  readonly outDir: string;
  readonly stepsDone: number;
  readonly startStep: number;
  /** Mean loss over the last ≤ 10 steps of this run. */
  readonly lastLoss: number;
  readonly stepsPerSec: number;
  readonly seconds: number;
  readonly parameters: { decoder: number; reverb: number };
  readonly interrupted: boolean;
}

interface TrainState {
  readonly config: TrainDdx7Config;
  /** The corpus trained on (absent in checkpoints from before it was recorded). */
  readonly corpus?: Ddx7CorpusRecord;
  readonly stepsDone: number;
  readonly losses: number[];
}

const CKPT = { dir: 'checkpoint', state: 'state.json', weights: 'weights', optimizer: 'optimizer' } as const;

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Is `value` a train-ddx7 checkpoint state (checked before any field is trusted)? */
function isTrainState(value: unknown): value is TrainState {
  const v = value as Partial<TrainState> | null;
  return typeof v === 'object' && v !== null && typeof v.stepsDone === 'number' && typeof v.config === 'object' && v.config !== null && Array.isArray(v.losses);
}

/**
 * Is `outDir` (an existing folder) a train-ddx7 output: `ddx7.json` of format fmmatch-ddx7, or
 * only a `checkpoint/` folder that is empty or holds a train-ddx7 state (what a run leaves when
 * it stops before its first checkpoint completes)?
 */
function isDdx7Folder(outDir: string, entries: readonly string[]): boolean {
  try {
    const file = JSON.parse(readFileSync(path.join(outDir, DDX7_FILES.config), 'utf8')) as { format?: unknown };
    if (file.format === 'fmmatch-ddx7') return true;
  } catch {
    // No readable ddx7.json: decided by the checkpoint below.
  }
  if (entries.length !== 1 || entries[0] !== CKPT.dir) return false;
  const ckpt = path.join(outDir, CKPT.dir);
  try {
    const inside = readdirSync(ckpt);
    if (!inside.includes(CKPT.state)) {
      // Stopped while writing its first checkpoint (state.json comes last): only our own files.
      const ours = (f: string): boolean => [CKPT.weights, CKPT.optimizer].some((b) => f.startsWith(`${b}.`)) || f.startsWith(`${CKPT.state}.`);
      return inside.every(ours);
    }
    return isTrainState(JSON.parse(readFileSync(path.join(ckpt, CKPT.state), 'utf8')));
  } catch {
    return false;
  }
}

/** What a folder that is not ours looks like, for the error message: its kind when known, and its first entries. */
function describeFolder(entries: readonly string[]): string {
  const has = (f: string): boolean => entries.includes(f);
  const kind =
    has('model.json') && (has(TRAIN_FILES.targets) || has(TRAIN_FILES.config)) ? 'a train-cnn model folder'
    : has(MANIFEST_FILE) && has(PARAMS_FILE) ? 'a gen-dataset folder'
    : has('examples.json') ? 'an NSynth folder'
    // eval-nsynth.json: the report's marker (named here as text: the model layer cannot import the report layer).
    : has('eval-nsynth.json') || (has('index.html') && has('notes.csv')) ? 'an eval-nsynth report'
    : null;
  const sorted = [...entries].sort();
  const shown = `${sorted.slice(0, 4).join(', ')}${sorted.length > 4 ? `, … (${sorted.length} entries)` : ''}`;
  return kind ? `it looks like ${kind}: ${shown}` : `it holds ${shown}`;
}

/**
 * Refuses an `--out` that training would damage or mix into: a file, or (for a fresh run) a
 * non-empty folder that is not a train-ddx7 output (a CNN's weights.bin would be overwritten; a
 * dataset would get a model inside it). A resume is checked against its checkpoint instead.
 *
 * @throws Ddx7TrainError naming the folder and what it holds.
 */
export function checkDdx7OutDir(outDir: string, resume: boolean): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new Ddx7TrainError(`--out ${outDir} is a file, not a folder; choose a new or empty folder`);
  if (resume) return;
  const entries = readdirSync(outDir);
  if (entries.length > 0 && !isDdx7Folder(outDir, entries)) {
    throw new Ddx7TrainError(`--out ${outDir} is not empty and is not a train-ddx7 folder (${describeFolder(entries)}); choose a new or empty folder`);
  }
}

/** How a value of the corpus record reads in a message (null: the option was not given). */
function showOption(key: keyof Ddx7CorpusRecord, v: unknown): string {
  if (v === null || v === undefined) return key === 'families' ? '(all)' : key === 'instrument' ? '(any)' : '(none)';
  return Array.isArray(v) ? v.join(',') : String(v);
}

/**
 * Why a resume may not continue on `now`, or null when the excerpts are the checkpoint's (same
 * hash: same bytes in the same order, whatever the options that selected them were called).
 */
function corpusMismatch(was: Ddx7CorpusRecord | undefined, now: Ddx7CorpusRecord): string | null {
  if (typeof was !== 'object' || was === null || typeof was.excerptHash !== 'string') {
    return 'the checkpoint does not record its corpus (it predates train-ddx7 recording one), so a resume cannot check that it gets the same data; start a new run in another --out';
  }
  if (was.excerptHash === now.excerptHash) return null;
  const options: [string, keyof Ddx7CorpusRecord][] = [['--data', 'data'], ['--families', 'families'], ['--instrument', 'instrument'], ['--limit', 'limit'], ['--silence-db', 'silenceDb'], ['--min-confidence', 'minConfidence']];
  const differ = options.filter(([, k]) => showOption(k, was[k]) !== showOption(k, now[k])).map(([o, k]) => `${o} ${showOption(k, was[k])} vs ${showOption(k, now[k])}`);
  const counts = `${was.excerpts} excerpts from ${was.files} files then, ${now.excerpts} from ${now.files} now`;
  if (differ.length > 0) return `the checkpoint was trained on another corpus (checkpoint vs this run: ${differ.join(', ')}; ${counts}); resume with the checkpoint's data options or use another --out`;
  return `--data ${now.data} no longer gives the checkpoint's excerpts (${counts}; content hash differs): its files, or the feature extraction, changed since; use another --out`;
}

/** The options whose values differ between two training configs, as `name a vs b`. */
function configDifferences(a: TrainDdx7Config, b: TrainDdx7Config): string[] {
  // The decoder's settings compared one by one (`model.channels 128 vs 64`), not as one JSON blob.
  const flat = (c: TrainDdx7Config): Record<string, unknown> => {
    const { model, ...rest } = { ...c, hopSec: c.hopSec ?? c.excerptSec };
    return { ...rest, ...Object.fromEntries(Object.entries(model).map(([k, v]) => [`model.${k}`, v])) };
  };
  return optionDifferences(flat(a), flat(b), {}, ['steps', 'checkpointEvery']);
}

/** One batch: f0 [B·F], decoder inputs [B·F·2], target audio [B·N]; excerpts drawn by (seed, step). */
function makeBatch(corpus: Ddx7Corpus, config: TrainDdx7Config, step: number): { f0: Float32Array; inputs: Float32Array; target: Float32Array } {
  const rng = seedrandom(`fmmatch/ddx7/${config.seed}/${step}`);
  const frames = corpus.excerpts[0].f0Hz.length;
  const n = frames * DDX7_HOP;
  const f0 = new Float32Array(config.batchSize * frames);
  const inputs = new Float32Array(config.batchSize * frames * 2);
  const target = new Float32Array(config.batchSize * n);
  for (let b = 0; b < config.batchSize; b++) {
    const e = corpus.excerpts[Math.floor(rng() * corpus.excerpts.length)];
    f0.set(e.f0Hz, b * frames);
    inputs.set(controlInputs(e.f0Hz, e.loudnessDb, config.model), b * frames * 2);
    target.set(e.audio, b * n);
  }
  return { f0, inputs, target };
}

/** The model folder's description (ddx7.json). */
export interface Ddx7ModelFile {
  readonly format: 'fmmatch-ddx7';
  readonly config: Ddx7Config;
  readonly features: { readonly f0: string; readonly loudness: string; readonly sampleRate: number; readonly hop: number; readonly frameRate: number; readonly loudnessRangeDb: readonly [number, number] };
  /** `corpus`: what the model was trained on (absent in models from before it was recorded). */
  readonly training: TrainDdx7Config & { readonly stepsDone: number; readonly corpus?: Ddx7CorpusRecord };
  readonly parameters: { decoder: number; reverb: number };
  readonly backend: BackendInfo;
}

/**
 * Trains (or resumes) into `outDir`: `ddx7.json` + `weights.{json,bin}` (the model as of the last
 * checkpoint) and `checkpoint/` (weights, Adam state, step, loss history).
 */
export async function trainDdx7(corpus: Ddx7Corpus, outDir: string, config: TrainDdx7Config, features: Ddx7Features, backend: BackendInfo, resume: boolean, hooks: TrainDdx7Hooks = {}): Promise<TrainDdx7Summary> {
  const t0 = performance.now();
  const ckpt = path.join(outDir, CKPT.dir);
  const statePath = path.join(ckpt, CKPT.state);
  const frames = Math.round(config.excerptSec * DDX7_FRAME_RATE);
  if (corpus.excerpts.some((e) => e.f0Hz.length !== frames)) throw new Ddx7TrainError(`excerpts must all be ${frames} frames`);
  let state: TrainState;
  let model: Ddx7Model;
  const optimizer = new ScheduledAdam(config.learningRate, 0.9, 0.999, 1e-7);
  checkDdx7OutDir(outDir, resume);
  if (resume) {
    if (!existsSync(statePath)) throw new Ddx7TrainError(`${outDir}: no checkpoint to resume (${statePath} missing)`);
    const fail = (m: string): Error => new Ddx7TrainError(m);
    const read = readCheckpointJson<unknown>(statePath, fail);
    if (!isTrainState(read)) {
      throw new Ddx7TrainError(`${outDir}: not a train-ddx7 checkpoint (${statePath} lacks stepsDone, config or losses; another tool's folder?)`);
    }
    state = read;
    const differ = configDifferences(state.config, config);
    if (differ.length > 0) throw new Ddx7TrainError(`${outDir}: the checkpoint was made with other options (checkpoint vs this run: ${differ.join(', ')}); resume with the same options or use another --out`);
    const mismatch = corpusMismatch(state.corpus, corpus.record);
    if (mismatch !== null) throw new Ddx7TrainError(`${outDir}: ${mismatch}`);
    model = await loadCheckpointPart(path.join(ckpt, CKPT.weights), fail, () => loadDdx7Weights(config.model, path.join(ckpt, CKPT.weights)));
    await loadCheckpointPart(path.join(ckpt, CKPT.optimizer), fail, () => optimizer.setWeights(loadNamedTensors(path.join(ckpt, CKPT.optimizer))));
  } else {
    if (existsSync(statePath)) throw new Ddx7TrainError(`${outDir} already holds a training run; use --resume to continue it or choose another --out`);
    mkdirSync(ckpt, { recursive: true });
    model = createDdx7(config.model);
    state = { config, corpus: corpus.record, stepsDone: 0, losses: [] };
  }
  const parameters = parameterCount(model);
  const saveAll = async (): Promise<void> => {
    await saveDdx7Weights(model, path.join(ckpt, CKPT.weights));
    await saveNamedTensors(path.join(ckpt, CKPT.optimizer), await optimizer.getWeights());
    writeJson(statePath, state);
    // The model beside the checkpoint is always the latest: Ctrl-C or a crash leaves it usable.
    await saveDdx7Weights(model, path.join(outDir, DDX7_FILES.weights));
    const file: Ddx7ModelFile = {
      format: 'fmmatch-ddx7',
      config: config.model,
      features: { ...features.describe, sampleRate: DDX7_SAMPLE_RATE, hop: DDX7_HOP, frameRate: DDX7_FRAME_RATE, loudnessRangeDb: config.model.loudnessRangeDb },
      training: { ...config, stepsDone: state.stepsDone, ...(state.corpus ? { corpus: state.corpus } : {}) },
      parameters,
      backend,
    };
    writeJson(path.join(outDir, DDX7_FILES.config), file);
  };

  const startStep = state.stepsDone;
  const tLoop = performance.now();
  let interrupted = false;
  try {
    for (let step = startStep + 1; step <= config.steps; step++) {
      const { f0, inputs, target } = makeBatch(corpus, config, step);
      optimizer.setLearningRate(learningRateAt(config, step));
      const loss = ddx7TrainStep(model, optimizer, f0, inputs, target, config.batchSize, config.clipNorm, stepSeed('fmmatch/ddx7-dropout', config.seed, step));
      if (!Number.isFinite(loss)) throw new Ddx7TrainError(`training diverged at step ${step} (loss ${loss}); try a lower --lr`);
      state = { ...state, stepsDone: step, losses: [...state.losses, loss] };
      hooks.onStep?.(step, config.steps, loss, (step - startStep) / ((performance.now() - tLoop) / 1000));
      await yieldToEventLoop();
      if (hooks.signal?.aborted) {
        interrupted = true;
        break;
      }
      if (step % config.checkpointEvery === 0 && step < config.steps) await saveAll();
    }
    await saveAll();
  } finally {
    disposeDdx7(model);
    optimizer.dispose();
  }
  const ran = state.stepsDone - startStep;
  const recent = state.losses.slice(Math.max(startStep, state.losses.length - 10));
  return {
    outDir,
    stepsDone: state.stepsDone,
    startStep,
    lastLoss: recent.length ? recent.reduce((s, v) => s + v, 0) / recent.length : NaN,
    stepsPerSec: ran > 0 ? ran / ((performance.now() - tLoop) / 1000) : 0,
    seconds: (performance.now() - t0) / 1000,
    parameters,
    interrupted,
  };
}

