/**
 * A model written by train-cnn loads in a browser with `tf.loadLayersModel` (tfjs's own browser
 * bundle, served from a loopback HTTP server) and predicts what Node predicts for the same input.
 * Needs /usr/bin/chromium (`apt-get install -y chromium`); without it the test fails, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT, runCli, tempDir } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Serves the model folder and tfjs's browser bundle on 127.0.0.1 (a random port). */
async function serve(modelDir: string): Promise<{ server: Server; base: string }> {
  const bundle = path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs', 'dist', 'tf.min.js');
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const file = url === '/tf.min.js' ? bundle : url.startsWith('/model/') ? path.join(modelDir, path.basename(url)) : null;
    if (url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><head><script src="/tf.min.js"></script></head><body></body></html>');
    } else if (file && existsSync(file)) {
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' });
      res.end(readFileSync(file));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { server, base: `http://127.0.0.1:${addr.port}` };
}

test('a train-cnn model loads with tf.loadLayersModel in Chromium and predicts as in Node', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with 'apt-get install -y chromium'`);
  const tmp = tempDir('fmmatch-model-browser-');
  const data = path.join(tmp, 'ds');
  const model = path.join(tmp, 'model');
  assert.equal(runCli('gen-dataset', ['--count', '12', '--out', data, '--quiet']).status, 0);
  const trained = runCli('train-cnn', ['--data', data, '--out', model, '--epochs', '1', '--batch', '4', '--quiet']);
  assert.equal(trained.status, 0, trained.stderr);

  // Node's prediction for a fixed input (a 440 Hz sine), through the project's own loader.
  const nodeScript = `
    import { initBackend } from './src/model/backend.ts';
    import { loadCnn } from './src/model/predict.ts';
    import * as tf from '@tensorflow/tfjs';
    await initBackend({ backend: 'wasm', threads: 1 });
    const cnn = await loadCnn(${JSON.stringify(model)});
    const x = new Float32Array(64000).map((_, i) => Math.sin(2 * Math.PI * 440 * i / 16000));
    const z = cnn.model.predict(tf.tensor3d(x, [1, 64000, 1])).dataSync();
    process.stdout.write(JSON.stringify(Array.from(z)));`;
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', nodeScript], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const nodeOut = JSON.parse(r.stdout) as number[];

  const { server, base } = await serve(model);
  const profile = tempDir('fmmatch-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    const browserOut = await page.evaluate(async () => {
      const tfg = (globalThis as unknown as { tf: { setBackend(n: string): Promise<boolean>; loadLayersModel(u: string): Promise<{ predict(x: unknown): { dataSync(): Float32Array } }>; tensor3d(x: Float32Array, s: number[]): unknown } }).tf;
      await tfg.setBackend('cpu');
      const m = await tfg.loadLayersModel('/model/model.json');
      const x = new Float32Array(64000).map((_, i) => Math.sin((2 * Math.PI * 440 * i) / 16000));
      // The same raw input as in Node (peak normalisation is the caller's, in both places).
      return Array.from(m.predict(tfg.tensor3d(x, [1, 64000, 1])).dataSync());
    });
    assert.deepEqual(errors, []);
    assert.equal(browserOut.length, 15);
    for (let j = 0; j < 15; j++) {
      assert.ok(Math.abs(browserOut[j] - nodeOut[j]) <= 1e-3 * (1 + Math.abs(nodeOut[j])), `output ${j}: browser ${browserOut[j]}, node ${nodeOut[j]}`);
    }
  } finally {
    await context.close();
    server.close();
  }
});
