/**
 * The worker pool: every task answered once, on demand (queue depth 1) or handed out at once
 * round-robin (queue depth Infinity), and a worker's error rejects the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { WorkerPool } from '../src/parallel/pool.ts';
import { tempDir } from './helpers.ts';

const ECHO = new URL('./fixtures/echo-worker.ts', import.meta.url);

test('pool: queue depths 1, 2 and Infinity answer every task once; Infinity deals chunks round-robin', async () => {
  const pool = new WorkerPool<number, { task: number; thread: number }>(ECHO, null, 2);
  try {
    const tasks = Array.from({ length: 23 }, (_, i) => i);
    for (const depth of [1, 2, Infinity]) {
      const got: { task: number; thread: number }[] = [];
      await pool.run(tasks, 3, (r) => got.push(r), undefined, depth);
      assert.deepEqual(got.map((r) => r.task).sort((a, b) => a - b), tasks, `depth ${depth}`);
      if (depth === Infinity) {
        // Chunks of 3 dealt alternately before any answer: chunk c goes to worker c mod 2.
        const threadOf = new Map(got.map((r) => [r.task, r.thread]));
        const first = threadOf.get(0);
        for (const t of tasks) assert.equal(threadOf.get(t) === first, Math.floor(t / 3) % 2 === 0, `task ${t}`);
      }
    }
    assert.throws(() => pool.run(tasks, 3, () => undefined, undefined, 0), /queueDepth must be ≥ 1/);
    // Aborted before the run (Ctrl-C while the evaluator waited for the previous chunk): nothing
    // is handed out and the run resolves, at every depth (Infinity used to spin forever).
    for (const depth of [1, Infinity]) {
      const got: number[] = [];
      await pool.run(tasks, 3, (r) => got.push(r.task), AbortSignal.abort(), depth);
      assert.deepEqual(got, [], `depth ${depth}`);
    }
    // Aborted during the run at depth 1: the chunks handed out are answered, no more.
    const controller = new AbortController();
    const partial: number[] = [];
    await pool.run(tasks, 3, (r) => (partial.push(r.task), controller.abort()), controller.signal, 1);
    assert.ok(partial.length >= 3 && partial.length <= 6 && partial.length % 3 === 0, `${partial.length} answered`);
    // A task error rejects the run and fails the pool: the other worker still holds chunks of it.
    await assert.rejects(pool.run([1, -2, 3, 4, 5, 6], 1, () => undefined, undefined, Infinity), /negative task -2/);
    await assert.rejects(pool.run(tasks, 3, () => undefined), /negative task -2/);
  } finally {
    await pool.close();
  }
});

test('pool: a TypeScript worker starts when the command runs from outside the project (tsx resolved by the parent, not the working directory)', () => {
  const outside = tempDir('pool-cwd');
  const script = [
    `const { WorkerPool } = await import(${JSON.stringify(new URL('../src/parallel/pool.ts', import.meta.url).href)});`,
    `const pool = new WorkerPool(new URL(${JSON.stringify(ECHO.href)}), null, 1);`,
    'const got = [];',
    'await pool.run([1, 2, 3], 1, (r) => got.push(r.task));',
    'await pool.close();',
    'console.log(JSON.stringify(got.sort()));',
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { cwd: outside, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '[1,2,3]');
});
