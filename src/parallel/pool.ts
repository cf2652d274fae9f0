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
 * threads do not inherit from the parent. The loader is named by the URL this module resolves it
 * to: an evaluated worker resolves bare names from the working directory, so `tsx` would not be
 * found when a command runs from outside the project (`npx tsx /path/to/pipelines/…`).
 */
export function startWorker(moduleUrl: URL, data: unknown): Worker {
  if (moduleUrl.pathname.endsWith('.ts')) {
    const tsxApi = import.meta.resolve('tsx/esm/api');
    const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(moduleUrl.href)});`;
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

/** A task with the buffers to transfer (not copy) to the worker. */
export interface Transferable<T> {
  readonly task: T;
  readonly transfer: ArrayBuffer[];
}

/**
 * A pool of workers kept alive across several `run` calls (the evaluator feeds it chunk after
 * chunk; starting a worker costs ~0.3 s of module loading).
 */
export class WorkerPool<T, R> {
  private readonly workers: Worker[];
  private failure: Error | null = null;
  private current: { reject: (e: Error) => void } | null = null;

  constructor(moduleUrl: URL, workerData: unknown, count: number) {
    this.workers = Array.from({ length: Math.max(1, count) }, () => {
      const w = startWorker(moduleUrl, workerData);
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`a worker exited with code ${code}`));
      });
      return w;
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.current?.reject(e);
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Runs tasks in chunks on the workers; `onResult` sees every result in completion order.
   * Rejects with the first worker error; stops handing out chunks when `signal` aborts (chunks a
   * worker already holds are finished); resolves at once if it has already aborted. After an
   * error (a task's, or `onResult` throwing) the pool is failed: workers may still hold chunks of
   * that run, whose answers must not reach a later run, so later runs reject; close it.
   *
   * @param queueDepth chunks each worker holds at once (≥ 1): with 1 a worker asks for its next
   *   chunk when it finishes one, which balances uneven tasks best but leaves it idle while this
   *   thread is busy with something else (the evaluator's CNN blocks it for seconds); Infinity
   *   hands every chunk out at once, round-robin.
   */
  run(tasks: readonly (T | Transferable<T>)[], chunkSize: number, onResult: (r: R) => void, signal?: AbortSignal, queueDepth = 1): Promise<void> {
    if (!(queueDepth >= 1)) throw new Error(`queueDepth must be ≥ 1, got ${queueDepth}`);
    if (this.failure) return Promise.reject(this.failure);
    if (tasks.length === 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let next = 0;
      let busy = 0;
      let done = false;
      const finish = (e?: Error): void => {
        if (done) return;
        done = true;
        this.current = null;
        if (e) this.failure ??= e;
        for (const w of this.workers) w.removeAllListeners('message');
        if (e) reject(e);
        else resolve();
      };
      this.current = { reject: (e) => finish(e) };
      const feed = (w: Worker): void => {
        if (next >= tasks.length || signal?.aborted) {
          if (busy === 0) finish();
          return;
        }
        const chunk = tasks.slice(next, next + chunkSize);
        next += chunk.length;
        busy++;
        const plain: T[] = [];
        const transfer: ArrayBuffer[] = [];
        for (const t of chunk) {
          if (t !== null && typeof t === 'object' && 'transfer' in (t as object) && 'task' in (t as object)) {
            plain.push((t as Transferable<T>).task);
            transfer.push(...(t as Transferable<T>).transfer);
          } else plain.push(t as T);
        }
        w.postMessage({ kind: 'tasks', tasks: plain } satisfies ToWorker<T>, transfer);
      };
      for (const w of this.workers) {
        w.on('message', (msg: FromWorker<R>) => {
          busy--;
          if (msg.kind === 'error') {
            finish(new Error(msg.message));
            return;
          }
          try {
            for (const r of msg.results) onResult(r);
          } catch (e) {
            finish(e as Error);
            return;
          }
          feed(w);
          if (busy === 0 && (next >= tasks.length || signal?.aborted)) finish();
        });
      }
      // Round-robin, one chunk per worker per pass, until each holds `queueDepth` (or none are left).
      // (feed hands out nothing once the signal has aborted, so the loop must test it too.)
      for (let d = 0; d < queueDepth && next < tasks.length && !signal?.aborted; d++) for (const w of this.workers) feed(w);
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Runs `tasks` on a pool of workers started for this call. Rejects with the first worker error
 * (after stopping the others); resolves when every task has a result or the signal aborted.
 */
export async function runPool<T, R>(tasks: readonly T[], opts: PoolOptions<R>): Promise<void> {
  if (tasks.length === 0) return;
  const count = Math.max(1, Math.min(opts.workers, Math.ceil(tasks.length / opts.chunkSize)));
  const pool = new WorkerPool<T, R>(opts.moduleUrl, opts.workerData, count);
  try {
    await pool.run(tasks, opts.chunkSize, opts.onResult, opts.signal);
  } finally {
    await pool.close();
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
