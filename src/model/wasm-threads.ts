/**
 * Multi-threaded TensorFlow.js wasm under Node, without editing `node_modules`.
 *
 * tfjs-backend-wasm 4.22.0 ships a threaded SIMD binary but never uses it in Node, for three reasons
 * (see `../shared/reference/tfjs-in-node.md`), each worked around here:
 *
 * 1. Its `WASM_HAS_MULTITHREAD_SUPPORT` flag answers `false` whenever `IS_NODE` (tfjs issue #3830).
 *    We set the flag to `true` before the backend initialises.
 * 2. Emscripten starts each pthread worker with `new Worker(blobUrl)`, and `worker_threads` refuses
 *    `blob:` URLs (ERR_WORKER_PATH); the worker then `importScripts` the main script, handed over as
 *    a `Blob`, which Node's `importScripts` shim cannot read either. The emscripten glue looks
 *    `Worker` up as a global at call time and assigns `worker_threads.Worker` to it first, so we pin
 *    `globalThis.Worker` to {@link PthreadWorker} (a getter with an ignoring setter). PthreadWorker
 *    resolves the blob URL in this thread, passes the Blob (Node Blobs are cloneable) to a small
 *    bootstrap that reads it asynchronously, evaluates tfjs's own worker script, and reads the main
 *    script Blob of the `load` message before passing that message on.
 * 3. The C++ side caps the XNNPACK pool at `emscripten_num_logical_cores() / 2` (1 on 2 cores);
 *    that count comes from `os.cpus().length`, read once while the module is instantiated. We
 *    report twice the wanted count from `os.cpus` for the duration of the initialisation only.
 *
 * The workarounds depend on the internals of the 4.22.0 bundle (free variables `require$$0..4`,
 * `commonjsGlobal`, `_scriptDir` in the factory's source; the worker protocol). The caller checks
 * the version first ({@link assertTfjsVersion} in `wasm-kernels.ts`).
 */
import os from 'node:os';
import { resolveObjectURL } from 'node:buffer';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

/**
 * Bootstrap evaluated in each pthread worker (CommonJS, `eval: true`). It must be plain JavaScript:
 * workers do not inherit the tsx loader reliably.
 *
 * - Messages arriving before tfjs's worker script is running are queued, then replayed in order.
 * - The factory source that tfjs sends in the `load` message refers to module-scope names of the
 *   tfjs bundle; they are defined here as globals with the same meaning.
 */
const WORKER_BOOTSTRAP = String.raw`
'use strict';
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const pending = [];
let handle = (m) => { pending.push(m); };
parentPort.on('message', (m) => handle(m));
const scripts = new Map();
(async () => {
  const workerSource = await workerData.workerScript.text();
  // tfjs's worker script subscribes to parentPort itself; we route messages instead, so that the
  // main-script Blob of the 'load' message can be read (asynchronously) before it is handled.
  const realOn = parentPort.on;
  parentPort.on = function (ev, fn) { return ev === 'message' ? parentPort : realOn.call(parentPort, ev, fn); };
  (0, eval)(workerSource);
  parentPort.on = realOn;
  globalThis.require$$0 = require('fs');
  globalThis.require$$1 = require('path');
  globalThis.require$$3 = require('perf_hooks');
  globalThis.require$$4 = require('os');
  globalThis.commonjsGlobal = globalThis;
  globalThis._scriptDir = undefined;
  globalThis.importScripts = (f) => {
    const text = scripts.get(f);
    (0, eval)(text !== undefined ? text : fs.readFileSync(f, 'utf8'));
  };
  let chain = Promise.resolve();
  handle = (m) => {
    chain = chain.then(async () => {
      if (m && m.cmd === 'load' && m.urlOrBlob && typeof m.urlOrBlob !== 'string') {
        const key = 'fmmatch:tfjs-wasm-main-script';
        scripts.set(key, await m.urlOrBlob.text());
        m.urlOrBlob = key;
      }
      globalThis.onmessage({ data: m });
    }).catch((e) => { process.nextTick(() => { throw e; }); });
  };
  for (const m of pending.splice(0)) handle(m);
})().catch((e) => { process.nextTick(() => { throw e; }); });
`;

/**
 * A `worker_threads` Worker that also accepts the `blob:` URL emscripten uses for its pthread
 * script. Workers are unref'd (and `ref()` is a no-op) so that idle pthreads never keep the
 * process alive: the main thread blocks in wasm while they compute, it never awaits them.
 */
class PthreadWorker extends NodeWorker {
  constructor(url: string | URL, options?: WorkerOptions) {
    const href = typeof url === 'string' ? url : url.href;
    if (href.startsWith('blob:')) {
      const workerScript = resolveObjectURL(href);
      if (workerScript === undefined) throw new Error(`wasm threads: cannot resolve ${href}`);
      super(WORKER_BOOTSTRAP, { ...options, eval: true, workerData: { workerScript } });
    } else {
      super(url, options);
    }
    super.unref();
  }

  override ref(): void {
    // Deliberately ignored, see the class comment.
  }

  /** Passes messages on; keeps the wasm memory emscripten hands each pthread in its `load` message. */
  override postMessage(value: unknown, transferList?: readonly import('node:worker_threads').TransferListItem[]): void {
    const m = value as { cmd?: unknown; wasmMemory?: unknown } | null;
    if (m !== null && typeof m === 'object' && m.cmd === 'load' && m.wasmMemory !== undefined) tfjsWasmMemory = m.wasmMemory;
    super.postMessage(value, transferList);
  }
}

let tfjsWasmMemory: unknown = null;

/**
 * The shared `WebAssembly.Memory` of the multi-threaded tfjs wasm module (its heap, where tensors
 * live), seen when emscripten started its pthreads; null before that, or when the backend runs
 * single-threaded (its memory is then private to the module and not shared).
 */
export function tfjsSharedWasmMemory(): unknown {
  return tfjsWasmMemory;
}

let workerShimInstalled = false;

/** Pins `globalThis.Worker` to {@link PthreadWorker}; idempotent. Node itself defines no global `Worker`. */
export function installPthreadWorkerShim(): void {
  if (workerShimInstalled) return;
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => PthreadWorker,
    // Emscripten assigns `worker_threads.Worker` here on start-up; keep the shim.
    set: () => undefined,
  });
  workerShimInstalled = true;
}

/**
 * Runs `init` while `os.cpus()` reports at least `2·threads` entries, so that the wasm module's
 * `num_logical_cores / 2` cap admits `threads` pool threads. Restored afterwards, also on error.
 */
export async function withLogicalCoresForThreads<T>(threads: number, init: () => Promise<T>): Promise<T> {
  const original = os.cpus;
  os.cpus = function patchedCpus(this: typeof os): os.CpuInfo[] {
    const cpus = original.call(os);
    const first = cpus[0];
    if (first === undefined) return cpus;
    while (cpus.length < 2 * threads) cpus.push(first);
    return cpus;
  };
  try {
    return await init();
  } finally {
    os.cpus = original;
  }
}

/** Logical cores this process may use (Node's `availableParallelism`, which honours CPU affinity). */
export function logicalCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
