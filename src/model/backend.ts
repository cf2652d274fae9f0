/**
 * Choosing and starting the TensorFlow.js backend.
 *
 * Preference: native GPU (`@tensorflow/tfjs-node-gpu`) > native CPU (`@tensorflow/tfjs-node`) >
 * wasm (SIMD, multi-threaded, with the project's training kernels) > JS cpu. The native packages
 * are optional dependencies that cannot install where libtensorflow cannot be downloaded, so they
 * are imported dynamically and only if present. Every command prints the returned
 * {@link BackendInfo} and writes it into its output manifest.
 */
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { installDilatedConvGradient } from './conv-grads.ts';
import { assertTfjsVersion, installWasmTrainingKernels } from './wasm-kernels.ts';
import { relaxedSimdAvailable } from './wasm-gemm.ts';
import { installPthreadWorkerShim, logicalCores, withLogicalCoresForThreads } from './wasm-threads.ts';

/** Backends this project can run on, fastest first. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** A backend name, as printed and as accepted by `--backend`. */
export type BackendName = (typeof BACKEND_NAMES)[number];
/** `--backend` values: a name, or `auto` for the fastest present. */
export const BACKEND_CHOICES = ['auto', ...BACKEND_NAMES] as const;
/** A `--backend` value. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What a command reports about the backend it computed on. */
export interface BackendInfo {
  /** `tensorflow-gpu` / `tensorflow` (libtensorflow through tfjs-node), `wasm` or `cpu` (pure JS). */
  readonly name: BackendName;
  /**
   * Threads computing tensor ops: the XNNPACK pool size on wasm (caller thread included), the
   * logical core count for native TensorFlow (its default intra-op pool), 1 for JS cpu.
   */
  readonly threads: number;
  /** Version of `@tensorflow/tfjs-core`. */
  readonly tfjsVersion: string;
  /**
   * wasm only: whether the project's SIMD kernels fuse multiply-adds (`relaxed-simd-fma`, where V8
   * has relaxed SIMD; the CPU may fuse or not, so results can differ between machines in the last
   * bits) or multiply then add (`simd128`).
   */
  readonly wasmSimd?: 'relaxed-simd-fma' | 'simd128';
}

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** Backend to use; `auto` (default) takes the fastest present. */
  readonly backend?: BackendChoice;
  /**
   * wasm only: XNNPACK threads (≥ 1, default: every logical core). Fixed by the first wasm start in
   * a process. 1 skips the pthread workers altogether (the fallback if threads misbehave).
   */
  readonly threads?: number;
}

/** Native packages, loaded on demand. Their import registers the `tensorflow` backend. */
const NATIVE_PACKAGES: Readonly<Record<'tensorflow-gpu' | 'tensorflow', string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

let nativeLoaded: 'tensorflow-gpu' | 'tensorflow' | null = null;
let wasmThreads: number | null = null;
let current: BackendInfo | null = null;

/**
 * Imports a native package if it is installed and registers into our copy of tfjs-core.
 * Only one of them can be loaded per process (both register `tensorflow`).
 */
async function loadNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<boolean> {
  if (nativeLoaded !== null) return nativeLoaded === name;
  // A variable specifier keeps TypeScript and bundlers from resolving a package that may be absent.
  const specifier: string = NATIVE_PACKAGES[name];
  try {
    await import(specifier);
  } catch {
    return false;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    // Installed, but bound to another copy of @tensorflow/tfjs-core (version mismatch): unusable.
    process.emitWarning(`${specifier} loaded but did not register with this project's tfjs ${tf.version_core}`);
    return false;
  }
  nativeLoaded = name;
  return true;
}

/** Backends that can start in this process, fastest first (imports native packages if present). */
export async function availableBackends(): Promise<BackendName[]> {
  const found: BackendName[] = [];
  if (nativeLoaded !== null) found.push(nativeLoaded);
  else if (await loadNative('tensorflow-gpu')) found.push('tensorflow-gpu');
  else if (await loadNative('tensorflow')) found.push('tensorflow');
  found.push('wasm', 'cpu');
  return found;
}

async function startWasm(threads: number): Promise<number> {
  installWasmTrainingKernels();
  if (wasmThreads !== null) {
    if (!(await tf.setBackend('wasm'))) throw new Error('fmmatch: the wasm backend failed to start');
    return tfwasm.getThreadsCount();
  }
  if (threads > 1) {
    installPthreadWorkerShim();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  }
  tfwasm.setThreadsCount(threads);
  const ok = await withLogicalCoresForThreads(threads, () => tf.setBackend('wasm'));
  if (!ok) throw new Error(`fmmatch: the wasm backend failed to start (threads ${threads}; try --threads 1)`);
  wasmThreads = tfwasm.getThreadsCount();
  return wasmThreads;
}

/**
 * Starts a backend and returns what it is. Call once at the start of every command that computes
 * with tfjs, before creating tensors; calling again switches backends (tensors move lazily).
 *
 * @throws if the asked-for backend is not installed, or tfjs is not the supported version.
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  assertTfjsVersion();
  installDilatedConvGradient();
  const choice = options.backend ?? 'auto';
  const threads = options.threads ?? logicalCores();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be an integer ≥ 1, got ${threads}`);
  const name: BackendName = choice === 'auto' ? ((await availableBackends())[0] as BackendName) : choice;

  let actualThreads: number;
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      if (!(await loadNative(name))) {
        throw new Error(`fmmatch: backend ${name} needs ${NATIVE_PACKAGES[name]}, which is not installed or did not load`);
      }
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`fmmatch: backend ${name} failed to start`);
      actualThreads = logicalCores();
      break;
    case 'wasm':
      actualThreads = await startWasm(threads);
      break;
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw new Error('fmmatch: the cpu backend failed to start');
      actualThreads = 1;
      break;
  }
  await tf.ready();
  current = Object.freeze({
    name,
    threads: actualThreads,
    tfjsVersion: tf.version_core,
    ...(name === 'wasm' ? { wasmSimd: relaxedSimdAvailable() ? ('relaxed-simd-fma' as const) : ('simd128' as const) } : {}),
  });
  return current;
}

/**
 * The backend started by the last {@link initBackend}.
 *
 * @throws if no backend was started through {@link initBackend}.
 */
export function backendInfo(): BackendInfo {
  if (current === null) throw new Error('fmmatch: no backend started; call initBackend() first');
  return current;
}

/** One line for command output, e.g. `backend wasm, 2 threads, relaxed-SIMD FMA (tfjs 4.22.0)`. */
export function describeBackend(info: BackendInfo): string {
  const simd = info.wasmSimd === undefined ? '' : info.wasmSimd === 'relaxed-simd-fma' ? ', relaxed-SIMD FMA' : ', SIMD128';
  return `backend ${info.name}, ${info.threads} thread${info.threads === 1 ? '' : 's'}${simd} (tfjs ${info.tfjsVersion})`;
}
