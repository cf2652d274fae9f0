/**
 * A small worker-thread pool: hands out chunks of tasks to N workers on demand and streams the
 * results back in completion order. Generic (knows nothing of patches or notes), so the dataset
 * generator and the evaluator share it.
 *
 * Protocol: the main thread posts `{ kind: 'tasks', tasks }` and the worker answers with
 * `{ kind: 'results', results }` for the whole chunk (or `{ kind: 'error', message }`); `null`
 * tells it to finish. `serveTasks` implements the worker side.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import os from 'node:os';

/** Logical cores Node can schedule on (the default worker count). */
export function defaultWorkerCount(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

type ToWorker<T> = { kind: 'tasks'; tasks: T[] } | null;
type FromWorker<R> = { kind: 'results'; results: R[] } | { kind: 'error'; message: string };

/**
 * Starts a worker from a module URL. A `.ts` module is loaded through tsx's loader, which worker
 * threads do not inherit from the parent.
 */
export function startWorker(moduleUrl: URL, data: unknown): Worker {
  if (moduleUrl.pathname.endsWith('.ts')) {
    const boot = `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(moduleUrl.href)});`;
    return new Worker(boot, { eval: true, workerData: data });
  }
  return new Worker(moduleUrl, { workerData: data });
}

/** Options of `runPool`. */
export interface PoolOptions<R> {
  /** Worker module (it calls `serveTasks`). */
  readonly moduleUrl: URL;
  /** Passed to every worker as `workerData`. */
  readonly workerData: unknown;
  /** Number of workers, ≥ 1. */
  readonly workers: number;
  /** Tasks per message: larger amortises messaging, smaller balances load. */
  readonly chunkSize: number;
  /** Called for every result, in completion order. */
  readonly onResult: (result: R) => void;
  /** When aborted, no new chunks are handed out and the pool ends after the running ones. */
  readonly signal?: AbortSignal;
}

/**
 * Runs `tasks` on a pool of workers. Rejects with the first worker error (after stopping the
 * others); resolves when every task has a result or the signal aborted.
 */
export async function runPool<T, R>(tasks: readonly T[], opts: PoolOptions<R>): Promise<void> {
  if (tasks.length === 0) return;
  const count = Math.max(1, Math.min(opts.workers, Math.ceil(tasks.length / opts.chunkSize)));
  let next = 0;
  const takeChunk = (): T[] | null => {
    if (next >= tasks.length || opts.signal?.aborted) return null;
    const chunk = tasks.slice(next, next + opts.chunkSize);
    next += chunk.length;
    return chunk;
  };
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, () => {
        const w = startWorker(opts.moduleUrl, opts.workerData);
        workers.push(w);
        return new Promise<void>((resolve, reject) => {
          const feed = (): void => {
            const chunk = takeChunk();
            if (chunk === null) {
              w.postMessage(null satisfies ToWorker<T>);
              resolve();
            } else w.postMessage({ kind: 'tasks', tasks: chunk } satisfies ToWorker<T>);
          };
          w.on('message', (msg: FromWorker<R>) => {
            if (msg.kind === 'error') {
              reject(new Error(msg.message));
              return;
            }
            for (const r of msg.results) opts.onResult(r);
            feed();
          });
          w.on('error', reject);
          w.on('exit', (code) => {
            if (code !== 0) reject(new Error(`a worker exited with code ${code}`));
          });
          feed();
        });
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Worker side: answers task chunks with `handle`. Call it at the top level of a worker module.
 * `setup` receives `workerData` once and returns the per-task handler (so each worker builds its
 * buffers once).
 */
export function serveTasks<T, R>(setup: (data: unknown) => (task: T) => R | Promise<R>): void {
  if (isMainThread || !parentPort) throw new Error('serveTasks must run in a worker thread');
  const port = parentPort;
  const handle = setup(workerData);
  port.on('message', async (msg: ToWorker<T>) => {
    if (msg === null) {
      port.close();
      return;
    }
    try {
      const results: R[] = [];
      for (const t of msg.tasks) results.push(await handle(t));
      port.postMessage({ kind: 'results', results } satisfies FromWorker<R>);
    } catch (e) {
      port.postMessage({ kind: 'error', message: (e as Error).message } satisfies FromWorker<R>);
    }
  });
}
