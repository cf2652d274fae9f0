/**
 * The HTML report in a real browser: Debian's headless Chromium opens index.html and a family
 * page from file://, and the pages must load with no console error and no failed (or any
 * non-file, non-data) request, with their tables, charts, decodable images and loadable audio.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`); without it the test fails, it never
 * passes provisionally.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { midiToHz } from '../src/eval/baselines.ts';
import type { DistanceSet, NoteResult, SkippedNote } from '../src/eval/types.ts';
import type { AudioSource } from '../src/report/html.ts';
import { writeReport } from '../src/report/report.ts';
import { PARAM_NAMES } from '../src/synth/params.ts';
import { LOGMEL_CELLS, makeMeta } from './report-fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const SAMPLE_RATE = 16000;
const SAMPLES = 64000;
/** Where the screenshots go, for a person to look at. */
export const SCREENSHOT_DIR = '/tmp';

/** A small deterministic generator (LCG), so the fixture audio is the same on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Distances on the scales the spec's sine-440 baseline shows (FFT ≈ 34 000, STFT ≈ 7 300), log-mel made up. */
function realisticDistances(fft: number): DistanceSet {
  const logmel = fft * 0.09;
  return { fft, stft: fft * 0.215, logmel, logmel_normalized: logmel / LOGMEL_CELLS };
}

/** 3 families × 4 notes; the CNN beats the pitched sine, which beats sine 440, with some spread. */
function syntheticResults(): NoteResult[] {
  const rand = lcg(5);
  const results: NoteResult[] = [];
  for (const family of ['bass', 'flute', 'guitar']) {
    for (let k = 0; k < 4; k++) {
      const pitch = (family === 'bass' ? 36 : family === 'flute' ? 72 : 55) + 3 * k;
      const meta = makeMeta(family, k % 2, pitch, 50 + 25 * (k % 3), k === 3 ? 'electronic' : 'acoustic');
      const sine440 = 30000 + 8000 * rand();
      const pitched = sine440 * (0.35 + 0.1 * rand());
      const cnn = sine440 * (0.2 + 0.3 * rand());
      const params = PARAM_NAMES.map((_, i) => i + rand());
      results.push({
        meta,
        predicted: { cnn: params },
        snapped: { cnn: params.map(Math.round) },
        distances: { cnn: realisticDistances(cnn), sine440: realisticDistances(sine440), pitched: realisticDistances(pitched) },
      });
    }
  }
  return results;
}

/** Audio for a note: the "original" a decaying tone with a little noise; the systems simpler tones. */
function syntheticAudio(note: NoteResult, source: AudioSource): Float32Array {
  const f = midiToHz(note.meta.pitch);
  const rand = lcg(note.meta.note);
  const out = new Float32Array(SAMPLES);
  for (let n = 0; n < SAMPLES; n++) {
    const t = n / SAMPLE_RATE;
    const env = Math.exp(-t * 1.5) * Math.min(1, t / 0.01);
    let v: number;
    if (source === 'original') v = env * (Math.sin(2 * Math.PI * f * t) + 0.4 * Math.sin(4 * Math.PI * f * t) + 0.05 * (rand() - 0.5));
    else if (source === 'sine440') v = Math.sin(2 * Math.PI * 440 * t);
    else if (source === 'pitched') v = env * Math.sin(2 * Math.PI * f * t);
    else v = env * Math.sin(2 * Math.PI * f * t + 1.5 * Math.sin(2 * Math.PI * 2 * f * t));
    out[n] = 0.5 * v;
  }
  return out;
}

const SKIPPED: SkippedNote[] = [{ id: 'reed_acoustic_000-050-127', reason: 'WAV sample rate is 44100 Hz, expected 16000 Hz.' }];

/** What one page load produced besides its content. */
interface PageProblems {
  readonly consoleErrors: string[];
  readonly failedRequests: string[];
  readonly foreignRequests: string[];
}

async function openPage(context: BrowserContext, file: string): Promise<{ page: Page; problems: PageProblems }> {
  const page = await context.newPage();
  const problems: PageProblems = { consoleErrors: [], failedRequests: [], foreignRequests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => problems.consoleErrors.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.failedRequests.push(`${req.url().slice(0, 80)}: ${req.failure()?.errorText}`));
  page.on('request', (req) => {
    if (!/^(file|data):/.test(req.url())) problems.foreignRequests.push(req.url());
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, problems };
}

/** Row counts of every table body, keyed by caption's first words. */
async function tableRows(page: Page): Promise<Record<string, number>> {
  return page.$$eval('table', (tables) =>
    Object.fromEntries(tables.map((t) => [(t.caption?.firstChild?.textContent ?? '').trim(), t.tBodies[0]?.rows.length ?? 0])),
  );
}

/*
 * In-page scripts are strings, not functions: tsx (esbuild with keepNames) would wrap named inner
 * functions in a `__name` helper that does not exist in the page, and the project's TypeScript lib
 * has no DOM types.
 */

/** Durations of every <audio> once its metadata loaded (s); rejects on a media error or after 10 s. */
const AUDIO_DURATIONS_JS = `Promise.all([...document.querySelectorAll('audio')].map((a) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('audio metadata not loaded after 10 s (readyState ' + a.readyState + ')')), 10000);
  const done = () => { clearTimeout(timer); resolve(a.duration); };
  const fail = () => { clearTimeout(timer); reject(new Error('audio error ' + (a.error && a.error.code) + ': ' + (a.error && a.error.message))); };
  if (a.error) fail();
  else if (a.readyState >= 1) done();
  else { a.addEventListener('loadedmetadata', done, { once: true }); a.addEventListener('error', fail, { once: true }); }
})))`;

/** naturalWidth of every <img> after decoding (0 when it could not be decoded). */
const IMAGE_WIDTHS_JS = `Promise.all([...document.querySelectorAll('img')].map((img) => img.decode().then(() => img.naturalWidth, () => 0)))`;

async function audioDurations(page: Page): Promise<number[]> {
  return (await page.evaluate(AUDIO_DURATIONS_JS)) as number[];
}

async function imageWidths(page: Page): Promise<number[]> {
  return (await page.evaluate(IMAGE_WIDTHS_JS)) as number[];
}

/** Fails (never skips) when Chromium is absent. */
function requireChromium(context: BrowserContext | undefined): BrowserContext {
  if (!existsSync(CHROMIUM)) {
    assert.fail(`${CHROMIUM} not found: install Debian's chromium (apt-get update && apt-get install -y chromium) to run the report's browser test`);
  }
  assert.ok(context, 'the browser did not start');
  return context;
}

function assertClean(problems: PageProblems, what: string): void {
  assert.deepEqual(problems.consoleErrors, [], `${what}: console errors`);
  assert.deepEqual(problems.failedRequests, [], `${what}: failed requests`);
  assert.deepEqual(problems.foreignRequests, [], `${what}: requests other than file: and data: (the report must work offline)`);
}

describe('HTML report in headless Chromium', { timeout: 60000 }, () => {
  let dir = '';
  let profile = '';
  let context: BrowserContext | undefined;

  before(async () => {
    // Without the browser each test fails on its own (below), so the summary counts failures, not
    // "cancelled" tests as a failing hook would.
    if (!existsSync(CHROMIUM)) return;
    dir = await mkdtemp(path.join(os.tmpdir(), 'fmmatch-report-'));
    profile = await mkdtemp(path.join(os.tmpdir(), 'fmmatch-chromium-profile-'));
    await writeReport(dir, {
      results: syntheticResults(),
      skipped: SKIPPED,
      run: { name: 'browser-test', facts: [['Model', 'synthetic fixture'], ['Dataset', '3 families × 4 notes, generated']] },
      audio: syntheticAudio,
    });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
  });

  after(async () => {
    await context?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('index.html: run info, overall and family tables, charts, skipped notes; no errors', async () => {
    const { page, problems } = await openPage(requireChromium(context), path.join(dir, 'index.html'));
    assertClean(problems, 'index.html');
    const rows = await tableRows(page);
    assert.deepEqual(rows, {
      'Distances to the original notes, all 12 notes': 3 + 2, // cnn, sine440, pitched + the paper's two rows
      'Improvement over the baselines, all notes': 3 + 1,
      'Improvement of the CNN resynthesis per family': 3,
      'Notes that could not be evaluated, with the reason': 1,
    });
    // Over sine 440: 3 metrics; over the pitched sine: 3 metrics.
    assert.equal(await page.locator('svg.chart').count(), 6);
    assert.equal(await page.locator('svg.chart rect').count() > 6 * 3, true, 'charts have bars');
    const links = await page.$$eval('a[href$=".html"]', (as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
    assert.deepEqual(links, ['bass.html', 'flute.html', 'guitar.html']);
    assert.match(await page.locator('body').innerText(), /53\.34\s%/);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'fmmatch-report-index.png'), fullPage: true });
    await page.close();
  });

  it('a family page: tables, box plots, spectrogram images decoded, 4-s audio players loadable; no errors', async () => {
    const { page, problems } = await openPage(requireChromium(context), path.join(dir, 'guitar.html'));
    const rows = await tableRows(page);
    assert.deepEqual(rows, { 'Distances to the original notes, guitar': 3, 'Improvement over the baselines, guitar': 3 });
    assert.equal(await page.locator('svg.chart').count(), 3, 'one box plot per metric');
    // Best, median, worst × (original, cnn, sine440, pitched).
    const durations = await audioDurations(page);
    assert.equal(durations.length, 3 * 4);
    for (const d of durations) assert.ok(Math.abs(d - 4) < 0.01, `audio duration ${d} s, expected 4 s`);
    const widths = await imageWidths(page);
    assert.equal(widths.length, 3 * 4);
    for (const w of widths) assert.equal(w, 126, 'spectrogram image decoded, one pixel per frame');
    assertClean(problems, 'guitar.html');
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'fmmatch-report-guitar.png'), fullPage: true });
    await page.close();
  });
});
