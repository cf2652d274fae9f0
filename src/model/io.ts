/**
 * Saving and loading tfjs models as plain files: `model.json` (topology + weights manifest) and
 * `weights.bin`, the layout `tf.loadLayersModel('…/model.json')` reads in a browser. tfjs (without
 * tfjs-node) has no file:// handler, so this is it. Also named tensor lists (optimizer state) as
 * JSON + binary.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** A tensor with a name (tfjs-core's NamedTensor, which the tfjs umbrella does not re-export). */
export type NamedTensor = { name: string; tensor: tf.Tensor };

/** File names inside a model folder. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/**
 * Lets the event loop run (timers, I/O, signal handlers) before resolving. A training loop whose
 * batches come from memory never leaves the microtask queue (trainOnBatch's promise resolves
 * without I/O), so without this a Ctrl-C is only seen at the epoch's checkpoint writes.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The one-line message for a checkpoint part that failed to load: what, and the cause's first 200 characters. */
function corruptCheckpoint(what: string, e: unknown): string {
  return `${what}: corrupt checkpoint (${(e as Error).message.replace(/\s+/g, ' ').slice(0, 200)})`;
}

/**
 * Reads a checkpoint's JSON file; a missing, unreadable or unparsable file (a crash mid-write
 * before atomic writes, a hand edit) is an error naming the file, made by `error`.
 */
export function readCheckpointJson<T>(file: string, error: (message: string) => Error): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw error(corruptCheckpoint(file, e));
  }
}

/** Runs a checkpoint load; whatever it throws becomes an error naming `what` as a corrupt checkpoint. */
export async function loadCheckpointPart<T>(what: string, error: (message: string) => Error, load: () => T | Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    throw error(corruptCheckpoint(what, e));
  }
}

/** Writes `value` as indented JSON atomically (a temporary file renamed over `file`): an interrupted write never leaves half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

function concatWeightData(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const total = data.reduce((s, b) => s + b.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  return out;
}

/** An IOHandler that writes `dir/model.json` and `dir/weights.bin` (weights first, so a model.json never points at missing weights). */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      const weights = artifacts.weightData ? concatWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[]) : new Uint8Array(0);
      writeAtomic(path.join(dir, WEIGHTS_BIN), weights);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        trainingConfig: artifacts.trainingConfig,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      writeAtomic(path.join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    },
  };
}

/** An IOHandler that reads what `fileSaveHandler` wrote. Throws an Error naming the file on problems. */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = path.join(dir, MODEL_JSON);
      const binPath = path.join(dir, WEIGHTS_BIN);
      if (!existsSync(jsonPath)) throw new Error(`${jsonPath}: missing`);
      if (!existsSync(binPath)) throw new Error(`${binPath}: missing`);
      let json: { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[]; format?: string; generatedBy?: string; trainingConfig?: tf.io.TrainingConfig };
      try {
        json = JSON.parse(readFileSync(jsonPath, 'utf8'));
      } catch (e) {
        throw new Error(`${jsonPath}: not valid JSON (${(e as Error).message})`);
      }
      const bin = readFileSync(binPath);
      const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
      const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
      return { modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, generatedBy: json.generatedBy, trainingConfig: json.trainingConfig };
    },
  };
}

/** Saves named tensors (e.g. optimizer state) as `<base>.json` + `<base>.bin`. */
export async function saveNamedTensors(base: string, tensors: NamedTensor[]): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  writeAtomic(`${base}.bin`, new Uint8Array(data));
  writeAtomic(`${base}.json`, JSON.stringify(specs));
}

/** Loads what `saveNamedTensors` wrote. */
export function loadNamedTensors(base: string): NamedTensor[] {
  const specs = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = readFileSync(`${base}.bin`);
  const map = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  return specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

/**
 * The options in which a resume differs from its checkpoint, as `--batch 4 vs 8` (the checkpoint's
 * value first), so that the error refusing the resume says what to change. Keys are compared by
 * their JSON text (nested settings included); a key absent from one side counts as `defaults[key]`.
 *
 * @param optionNames the command-line option of each config key (others are shown by key)
 * @param ignore keys a resume may change
 */
export function optionDifferences<T extends object>(saved: T, requested: T, optionNames: Partial<Record<keyof T & string, string>>, ignore: readonly (keyof T & string)[] = [], defaults: Partial<T> = {}): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(requested)])] as (keyof T & string)[];
  const text = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const out: string[] = [];
  for (const k of keys) {
    if (ignore.includes(k)) continue;
    const a = text(saved[k] ?? defaults[k]);
    const b = text(requested[k] ?? defaults[k]);
    if (a !== b) out.push(`${optionNames[k] ?? k} ${a} vs ${b}`);
  }
  return out;
}
