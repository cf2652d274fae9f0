/**
 * Saving and loading tfjs models as plain files: `model.json` (topology + weights manifest) and
 * `weights.bin`, the layout `tf.loadLayersModel('…/model.json')` reads in a browser. tfjs (without
 * tfjs-node) has no file:// handler, so this is it. Also named tensor lists (optimizer state) as
 * JSON + binary.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** A tensor with a name (tfjs-core's NamedTensor, which the tfjs umbrella does not re-export). */
export type NamedTensor = { name: string; tensor: tf.Tensor };

/** File names inside a model folder. */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/**
 * What fileSaveHandler records in model.json's `userDefinedMetadata` (tfjs's own field for it, which
 * `tf.loadLayersModel` passes through in a browser too): the SHA-256 of weights.bin, so that a
 * weights file of the right size with other contents (a bad copy, a disk error, another model's
 * file) is refused at load instead of giving a model that silently predicts nonsense.
 */
export interface SavedModelMetadata {
  /** Hex SHA-256 of weights.bin. */
  readonly weightsSha256: string;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

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
        userDefinedMetadata: { ...(artifacts.userDefinedMetadata ?? {}), weightsSha256: sha256Hex(weights) } satisfies SavedModelMetadata,
      };
      writeAtomic(path.join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    },
  };
}

/**
 * The one-line message for a model file that exists but cannot be used: the file, and the cause's
 * first 200 characters (tfjs's own messages name neither the file nor the folder).
 */
export function corruptFileMessage(file: string, cause: unknown): string {
  const why = cause instanceof Error ? cause.message : String(cause);
  return `${file}: corrupt (${why.replace(/\s+/g, ' ').trim().slice(0, 200)})`;
}

/** An Error whose message already names the model file at fault (so wrappers pass it on as it is). */
export class ModelFileError extends Error {}

/** Reads and parses a JSON file; a missing or unparsable file is a ModelFileError naming it. */
export function readModelJson<T>(file: string): T {
  if (!existsSync(file)) throw new ModelFileError(`${file}: missing`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new ModelFileError(corruptFileMessage(file, e));
  }
}

const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/**
 * Bytes the weights of a manifest occupy, or null when that cannot be known from the manifest alone
 * (string tensors). Throws on a malformed entry.
 */
function manifestBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const s of specs) {
    if (!s || !Array.isArray(s.shape) || typeof s.name !== 'string') throw new Error('a weights manifest entry has no name or shape');
    // Quantized weights are stored at the quantized width, not the tensor's.
    const dtype = s.quantization?.dtype ?? s.dtype;
    if (dtype === 'string') return null;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) throw new Error(`weight ${s.name} has unknown dtype ${String(dtype)}`);
    total += s.shape.reduce((n, d) => n * d, 1) * bytes;
  }
  return total;
}

/**
 * Reads a weights file and checks its size against its manifest: tfjs, given a truncated file,
 * fails with "the tensor should have 96 values but has 25", naming neither file, or (a file too
 * long) silently ignores the rest. Throws a ModelFileError naming `binPath` or `manifestFile`.
 */
function readWeightsChecked(binPath: string, manifestFile: string, specs: readonly tf.io.WeightsManifestEntry[], sha256?: unknown): ArrayBuffer {
  if (!existsSync(binPath)) throw new ModelFileError(`${binPath}: missing`);
  let expected: number | null;
  try {
    expected = manifestBytes(specs);
  } catch (e) {
    throw new ModelFileError(corruptFileMessage(manifestFile, e));
  }
  const bin = readFileSync(binPath);
  if (expected !== null && bin.byteLength !== expected) {
    throw new ModelFileError(corruptFileMessage(binPath, `${bin.byteLength} bytes; the weights manifest in ${path.basename(manifestFile)} describes ${expected}`));
  }
  // Files saved before the digest was recorded have none: they load unchecked, as they always did.
  if (typeof sha256 === 'string' && sha256Hex(bin) !== sha256) {
    throw new ModelFileError(corruptFileMessage(binPath, `its contents differ from the ones ${path.basename(manifestFile)} records (SHA-256); a damaged copy or another model's weights`));
  }
  return bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
}

/**
 * An IOHandler that reads what `fileSaveHandler` wrote. Throws a ModelFileError naming the file on
 * problems (missing, unparsable, weights whose size disagrees with model.json's manifest).
 */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = path.join(dir, MODEL_JSON);
      const binPath = path.join(dir, WEIGHTS_BIN);
      const json = readModelJson<{ modelTopology?: object; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[]; format?: string; generatedBy?: string; trainingConfig?: tf.io.TrainingConfig; userDefinedMetadata?: Partial<SavedModelMetadata> }>(jsonPath);
      if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) {
        throw new ModelFileError(corruptFileMessage(jsonPath, 'no modelTopology or weightsManifest'));
      }
      const weightSpecs = json.weightsManifest.flatMap((g) => g?.weights ?? []);
      const weightData = readWeightsChecked(binPath, jsonPath, weightSpecs, json.userDefinedMetadata?.weightsSha256);
      return { modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, generatedBy: json.generatedBy, trainingConfig: json.trainingConfig };
    },
  };
}

/**
 * Loads the layers model in `dir` (`model.json` + `weights.bin`). Any failure is a ModelFileError
 * naming the file: the handler's own, or tfjs's (a topology it cannot build, weights that do not fit
 * the layers) as `<dir>/model.json: corrupt (…)`.
 */
export async function loadLayersModelFrom(dir: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(fileLoadHandler(dir));
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(corruptFileMessage(path.join(dir, MODEL_JSON), e));
  }
}

/**
 * Saves named tensors (e.g. optimizer state, DDX7 weights) as `<base>.bin` and `<base>.json`, the
 * latter `{ weights: <tfjs weight specs>, weightsSha256: <hex SHA-256 of the .bin> }`.
 */
export async function saveNamedTensors(base: string, tensors: NamedTensor[]): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const bytes = new Uint8Array(data);
  writeAtomic(`${base}.bin`, bytes);
  writeAtomic(`${base}.json`, JSON.stringify({ weights: specs, weightsSha256: sha256Hex(bytes) }));
}

/**
 * Loads what `saveNamedTensors` wrote (also the older layout, a bare list of specs without digest).
 * Throws a ModelFileError naming `<base>.json` or `<base>.bin` when either is missing or corrupt.
 */
export function loadNamedTensors(base: string): NamedTensor[] {
  const jsonPath = `${base}.json`;
  const json = readModelJson<tf.io.WeightsManifestEntry[] | { weights?: tf.io.WeightsManifestEntry[]; weightsSha256?: unknown }>(jsonPath);
  const specs = Array.isArray(json) ? json : json?.weights;
  if (!Array.isArray(specs)) throw new ModelFileError(corruptFileMessage(jsonPath, 'not a list of weight specs'));
  const data = readWeightsChecked(`${base}.bin`, jsonPath, specs, Array.isArray(json) ? undefined : json.weightsSha256);
  let map: Record<string, tf.Tensor>;
  try {
    map = tf.io.decodeWeights(data, specs);
  } catch (e) {
    throw new ModelFileError(corruptFileMessage(`${base}.bin`, e));
  }
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
