/**
 * The training report of `train-cnn`: one self-contained HTML page (inline SVG, no scripts, no
 * external files) with the loss curves, the test errors per parameter and predicted-vs-true scatter
 * plots.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CHANCE_WINDOW_CENTS, carrierComponentDb, carrierErrorStructure, rightByCarrierLevel } from '../eval/carrier-errors.ts';
import type { TestMetrics } from '../model/train-cnn.ts';
import { ALGORITHM_NAMES, getAlgorithm } from '../synth/algorithms.ts';
import { PARAM_SPECS } from '../synth/params.ts';
import { escapeHtml } from './format.ts';

const esc = escapeHtml;

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly [number, number][];
}

/** A line chart as an SVG string. */
function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], w = 520, h = 300): string {
  const pad = { l: 60, r: 16, t: 28, b: 42 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return `<p>${esc(title)}: no data</p>`;
  const x0 = Math.min(...all.map((p) => p[0]));
  const x1 = Math.max(...all.map((p) => p[0]), x0 + 1);
  const y0 = Math.min(0, ...all.map((p) => p[1]));
  const y1 = Math.max(...all.map((p) => p[1])) * 1.05 || 1;
  const sx = (x: number): number => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const sy = (y: number): number => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const ticks = (a: number, b: number, n: number): number[] => Array.from({ length: n + 1 }, (_, i) => a + ((b - a) * i) / n);
  const grid = ticks(y0, y1, 4)
    .map((t) => `<line x1="${pad.l}" x2="${w - pad.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/><text x="${pad.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t.toPrecision(3)}</text>`)
    .join('');
  // Epochs are whole numbers: over a short run, one tick per epoch (five evenly spaced ticks
  // rounded to integers would repeat labels: 1 1 2 2 3 3).
  const xTicks = x1 - x0 <= 10 ? Array.from({ length: Math.floor(x1) - Math.ceil(x0) + 1 }, (_, i) => Math.ceil(x0) + i) : ticks(x0, x1, 5);
  const xt = xTicks
    .map((t) => `<text x="${sx(t)}" y="${h - pad.b + 16}" text-anchor="middle">${Math.round(t)}</text>`)
    .join('');
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const legend = series.map((s, i) => `<rect x="${pad.l + 10 + i * 120}" y="8" width="12" height="4" fill="${s.color}"/><text x="${pad.l + 26 + i * 120}" y="14">${esc(s.name)}</text>`).join('');
  return `<svg role="img" aria-label="${esc(title)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-size="11" font-family="sans-serif">${grid}${xt}${lines}${legend}<text x="${(w + pad.l) / 2}" y="${h - 6}" text-anchor="middle">${esc(xLabel)}</text><text transform="translate(14 ${h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text></svg>`;
}

/** A predicted-vs-true scatter with the identity line, as SVG. */
function scatter(title: string, unit: string, pts: readonly [number, number][], lo: number, hi: number, log: boolean, size = 230): string {
  const pad = 34;
  const f = (v: number): number => (log ? Math.log(Math.max(v, lo * 1e-3)) : v);
  const a = f(lo);
  const b = f(hi);
  const s = (v: number): number => pad + ((Math.min(Math.max(f(v), a - (b - a) * 0.1), b + (b - a) * 0.1) - a) / (b - a)) * (size - 2 * pad);
  const dots = pts.map(([t, p]) => `<circle cx="${s(t).toFixed(1)}" cy="${(size - s(p)).toFixed(1)}" r="1.8" fill="#1f77b4" fill-opacity="0.5"/>`).join('');
  return `<figure><svg role="img" aria-label="${esc(title)}" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" font-size="10" font-family="sans-serif"><rect x="${pad}" y="${pad}" width="${size - 2 * pad}" height="${size - 2 * pad}" fill="none" stroke="#ccc"/><line x1="${s(lo)}" y1="${size - s(lo)}" x2="${s(hi)}" y2="${size - s(hi)}" stroke="#d62728"/>${dots}<text x="${size / 2}" y="${size - 8}" text-anchor="middle">true (${esc(unit)}${log ? ', log' : ''})</text><text transform="translate(10 ${size / 2}) rotate(-90)" text-anchor="middle">predicted</text></svg><figcaption>${esc(title)}</figcaption></figure>`;
}

/** The pages' shared style sheet (inline: the reports open offline from a file). */
const PAGE_STYLE = `<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th[scope=row]{text-align:left}caption{text-align:left;font-weight:bold;margin-bottom:4px}.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{text-align:center;font-size:12px}</style>`;

/** The table of test errors per parameter, original units. */
function perParamTable(metrics: TestMetrics): string {
  const rows = metrics.perParam
    .map((p) => `<tr><th scope="row">${esc(p.name)}</th><td>${esc(p.unit)}</td><td>${p.mae.toPrecision(4)}</td><td>${p.rmse.toPrecision(4)}</td><td>${p.mse.toPrecision(4)}</td></tr>`)
    .join('');
  return `<table><caption>Errors on the test split, original units</caption><thead><tr><th scope="col">parameter</th><th scope="col">unit</th><th scope="col">MAE</th><th scope="col">RMSE</th><th scope="col">MSE</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * The notes' carrier-component levels (`carrierComponentDb`), or null when the algorithm is unknown
 * or has other carriers than the carrier operator (then "the carrier's component" is not one thing).
 */
function carrierLevels(metrics: TestMetrics, algorithm: string | undefined): number[] | null {
  if (algorithm === undefined || !ALGORITHM_NAMES.includes(algorithm)) return null;
  const alg = getAlgorithm(algorithm);
  if (alg.carriers.length !== 1 || alg.carriers[0] !== 0) return null;
  // Operator k is modulator k (src/synth/render.ts), whose index is the parameter beta_k.
  const betaAt = Array.from({ length: 5 }, (_, i) => PARAM_SPECS.findIndex((p) => p.name === `beta_${i + 1}`));
  if (betaAt.some((i) => i < 0)) return null;
  return metrics.pairs.map((p) => carrierComponentDb(betaAt.map((i) => p.truth[i] as number), alg.inputs[0] as readonly number[]));
}

/** The table of right carriers per level of the carrier's own component ('' without levels). */
function carrierLevelTable(metrics: TestMetrics, levels: readonly number[] | null, rightCents: number): string {
  if (levels === null || levels.length !== metrics.pairs.length) return '';
  const bands = rightByCarrierLevel(metrics.pairs.map((p, i) => ({ truthHz: p.truth[0] as number, predictedHz: p.predicted[0] as number, levelDb: levels[i] as number })), rightCents);
  const label = (b: { loDb: number; hiDb: number }): string => (Number.isFinite(b.loDb) ? `${b.loDb} … ${b.hiDb} dB` : `below ${b.hiDb} dB`);
  const rows = bands.map((b) => `<tr><th scope="row">${label(b)}</th><td>${b.notes}</td><td>${b.notes > 0 ? ((100 * b.right) / b.notes).toFixed(1) : '–'} %</td></tr>`).join('');
  return `<table><caption>Right carriers per level of the carrier's own component (20·log10|Π J0(β)| over the modulators feeding it)</caption><thead><tr><th scope="col">carrier component</th><th scope="col">notes</th><th scope="col">within ${rightCents} cents</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * The carrier's misses sorted by kind (another partial of the patch, at a simple ratio of the true
 * carrier, vs anything else), the carrier's MAE per band of true carriers and, for single-carrier
 * algorithms, how often it is right per level of its own spectral component.
 */
function carrierErrorSection(metrics: TestMetrics, algorithm: string | undefined): string {
  const s = carrierErrorStructure(metrics.pairs.map((p) => ({ truthHz: p.truth[0] as number, predictedHz: p.predicted[0] as number })));
  const o = s.options;
  const misses = s.notes - s.right;
  const pct = (a: number, b: number): string => (b > 0 ? ((100 * a) / b).toFixed(1) : '0.0');
  const top = s.confusions.slice(0, 10).map((c) => `<tr><th scope="row">${c.num}/${c.den}</th><td>${c.count}</td><td>${pct(c.count, misses)} %</td></tr>`).join('');
  const confusionTable = top
    ? `<table><caption>Most frequent ratios predicted / true among the misses</caption><thead><tr><th scope="col">ratio</th><th scope="col">notes</th><th scope="col">of the misses</th></tr></thead><tbody>${top}</tbody></table>`
    : '';
  const bandRows = s.bands
    .map((b) => `<tr><th scope="row">${b.loHz}–${b.hiHz} Hz</th><td>${b.notes}</td><td>${pct(b.right, b.notes)} %</td><td>${b.notes > 0 ? (b.absErrorHz / b.notes).toFixed(0) : '–'}</td><td>${s.notes > 0 ? (b.absErrorHz / s.notes).toFixed(1) : '–'}</td></tr>`)
    .join('');
  const bandTable = `<table><caption>Carrier error per band of true carriers</caption><thead><tr><th scope="col">true carrier</th><th scope="col">notes</th><th scope="col">within ${o.rightCents} cents</th><th scope="col">MAE in the band, Hz</th><th scope="col">share of the overall MAE, Hz</th></tr></thead><tbody>${bandRows}</tbody></table>`;
  return `<h2>Carrier errors by kind</h2>
<p>${s.right} of ${s.notes} test notes (${pct(s.right, s.notes)} %) are within ${o.rightCents} cents of the true carrier. Of the ${misses} misses,
<strong>${s.atRatio} (${pct(s.atRatio, misses)} %) lie within ${o.toleranceCents} cents of a ratio a/b of the true carrier</strong> (a, b ≤ ${o.maxTerm}):
another partial of the patch taken for the carrier. By chance (each miss moved at random by up to ±${CHANCE_WINDOW_CENTS} cents) ${(100 * s.chanceShare).toFixed(1)} % would. The other ${s.elsewhere} misses are near no such ratio.</p>
<div class="grid">${confusionTable}${bandTable}${carrierLevelTable(metrics, carrierLevels(metrics, algorithm), o.rightCents)}</div>`;
}

/** Reads history.csv (written by the trainer) into columns. */
function readHistory(outDir: string): Record<string, number[]> {
  const lines = readFileSync(path.join(outDir, 'history.csv'), 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  const cols: Record<string, number[]> = Object.fromEntries(head.map((h) => [h, [] as number[]]));
  // An empty cell (a column added after those epochs were trained) is missing, not zero.
  for (const l of lines.slice(1)) l.split(',').forEach((v, i) => cols[head[i]].push(v === '' ? NaN : Number(v)));
  return cols;
}

/** A train-cnn run's config.json, or null when there is none readable. */
interface RunConfig {
  readonly config?: Record<string, unknown>;
  readonly dataset?: { config?: { algorithm?: string } };
  readonly backend?: { name?: string; threads?: number };
}
function readRunConfig(outDir: string): RunConfig | null {
  try {
    return JSON.parse(readFileSync(path.join(outDir, 'config.json'), 'utf8')) as RunConfig;
  } catch {
    return null;
  }
}

/** One line on how the run was set up (empty without a config). */
function describeSetup(cfg: RunConfig | null): string {
  if (!cfg) return '';
  const c = cfg.config ?? {};
  const head = c.carrierHead === 'bins' ? 'carrier classified over log-frequency bins (ours)' : 'carrier regressed (the paper)';
  const targets = c.logTargets ? 'carrier and ratios in log space (ours)' : 'linear targets (the paper)';
  const backend = cfg.backend?.name ? `; ${cfg.backend.name}, ${cfg.backend.threads ?? '?'} thread(s)` : '';
  return `Setup: ${head}; ${targets}; L2 ${String(c.l2)}, Adamax lr ${String(c.learningRate)}, batch ${String(c.batchSize)}, seed ${String(c.seed)}${backend}.`;
}

/** Writes `outDir/report.html` from history.csv and the test metrics. Returns its path. */
export function writeTrainingReport(outDir: string, metrics: TestMetrics): string {
  const h = readHistory(outDir);
  const xy = (k: string): [number, number][] => h.epoch.map((e, i) => [e, h[k][i]]);
  const runConfig = readRunConfig(outDir);
  const binsHead = runConfig?.config?.carrierHead === 'bins';
  // The training loss is the objective: the MSE plus the L2 penalty (plus the carrier bins' BCE with that head).
  const loss = lineChart('Loss per epoch', 'epoch', binsHead ? 'MSE, z-scored (train: + L2, + BCE)' : 'MSE, z-scored (train: + L2 penalty)', [
    { name: 'train', color: '#1f77b4', points: xy('loss') },
    { name: 'validation', color: '#ff7f0e', points: xy('val_loss') },
  ]);
  const mae = lineChart('MAE per epoch', 'epoch', 'MAE (z-scored)', [
    { name: 'train', color: '#1f77b4', points: xy('mae') },
    { name: 'validation', color: '#ff7f0e', points: xy('val_mae') },
  ]);
  const centsPoints = h.val_carrier_cents ? xy('val_carrier_cents').filter(([, c]) => Number.isFinite(c)) : [];
  const cents = centsPoints.length > 0 ? lineChart('Validation carrier error per epoch', 'epoch', 'median |error|, cents', [{ name: 'validation', color: '#ff7f0e', points: centsPoints }]) : '';
  const scatters = PARAM_SPECS.map((s, j) =>
    scatter(s.name, s.unit, metrics.pairs.map((p) => [p.truth[j], p.predicted[j]] as [number, number]), s.min, s.max, s.scale === 'log'),
  ).join('');
  const best = h.val_loss.length ? Math.min(...h.val_loss) : NaN;
  const setup = describeSetup(runConfig);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fmmatch: CNN training report</title>
${PAGE_STYLE}</head>
<body><h1>CNN training report</h1>
<p>${esc(setup)}</p>
<p>${h.epoch.length} epochs; best validation loss ${best.toPrecision(4)}. Test split: ${metrics.pairs.length} patches.
Pooled over the 15 parameters in original units (the paper's Table 5 reports MAE 7.6973, RMSE 38.5391):
<strong>MAE ${metrics.pooled.mae.toPrecision(5)}</strong>, RMSE ${metrics.pooled.rmse.toPrecision(5)}, MSE ${metrics.pooled.mse.toPrecision(5)}.
Carrier error: median ${metrics.carrierCents.median.toFixed(1)} cents, 90th percentile ${metrics.carrierCents.p90.toFixed(1)} cents.</p>
<h2>Learning curves</h2><div class="grid">${loss}${mae}${cents}</div>
<h2>Test errors per parameter</h2>
${perParamTable(metrics)}
${carrierErrorSection(metrics, runConfig?.dataset?.config?.algorithm)}
<h2>Predicted vs true (test split)</h2><div class="grid">${scatters}</div>
</body></html>
`;
  const file = path.join(outDir, 'report.html');
  writeFileSync(file, html);
  return file;
}

/**
 * Writes `carrierDir/report.html` for a train-carrier run (ours): its learning curves, the
 * validation carrier error per epoch, and the combined predictor's test errors (the CNN's other
 * parameters, the carrier net's carrier), with the carrier's predicted-vs-true scatter.
 * Returns its path.
 */
export function writeCarrierReport(carrierDir: string, metrics: TestMetrics): string {
  const h = readHistory(carrierDir);
  const xy = (k: string): [number, number][] => h.epoch.map((e, i) => [e, h[k][i]]);
  const loss = lineChart('Cross-entropy per epoch', 'epoch', 'cross-entropy over the bins, nats', [
    { name: 'train', color: '#1f77b4', points: xy('loss') },
    { name: 'validation', color: '#ff7f0e', points: xy('val_loss') },
  ]);
  const cents = lineChart('Validation carrier error per epoch', 'epoch', 'median |error|, cents', [{ name: 'median', color: '#ff7f0e', points: xy('val_carrier_cents') }]);
  const within = lineChart('Validation notes within 50 cents', 'epoch', '% of notes', [{ name: 'within 50 cents', color: '#2ca02c', points: xy('val_within_50').map(([e, v]) => [e, 100 * v]) }]);
  const spec = PARAM_SPECS[0];
  const carrierScatter = spec ? scatter('carrier_hz (carrier net)', spec.unit, metrics.pairs.map((p) => [p.truth[0], p.predicted[0]] as [number, number]), spec.min, spec.max, true, 360) : '';
  const errs = metrics.pairs.map((p) => Math.abs(1200 * Math.log2(Math.max(p.predicted[0], 1e-3) / p.truth[0])));
  const share = (c: number): string => ((100 * errs.filter((e) => e < c).length) / Math.max(errs.length, 1)).toFixed(1);
  const best = h.val_loss.length ? Math.min(...h.val_loss) : NaN;
  const saved = JSON.parse(readFileSync(path.join(carrierDir, 'config.json'), 'utf8')) as { extraData?: { dir: string; notes: number }[] };
  const extra = saved.extraData ?? [];
  const data = extra.length > 0 ? `the CNN's training split and every note of ${extra.map((x) => `${esc(x.dir)} (${x.notes})`).join(', ')} (--extra-data)` : "the CNN's training split";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fmmatch: carrier net training report</title>
${PAGE_STYLE}</head>
<body><h1>Spectral carrier net: training report</h1>
<p>Trained on ${data}; ${h.epoch.length} epochs; best validation cross-entropy ${best.toPrecision(4)} (the CNN's validation split). Test split of the CNN: ${metrics.pairs.length} patches.</p>
<p>Carrier error: <strong>median ${metrics.carrierCents.median.toFixed(1)} cents</strong>, 90th percentile ${metrics.carrierCents.p90.toFixed(0)} cents;
${share(50)} % of notes within 50 cents, ${share(100)} % within 100 cents.
With the CNN's other 14 parameters, pooled over the 15 in original units (the paper's Table 5: MAE 7.6973, RMSE 38.5391):
<strong>MAE ${metrics.pooled.mae.toPrecision(5)}</strong>, RMSE ${metrics.pooled.rmse.toPrecision(5)}.</p>
<h2>Learning curves</h2><div class="grid">${loss}${cents}${within}</div>
<h2>Carrier, predicted vs true (test split)</h2><div class="grid">${carrierScatter}</div>
${carrierErrorSection(metrics, readRunConfig(path.dirname(carrierDir))?.dataset?.config?.algorithm)}
<h2>Test errors per parameter (combined predictor)</h2>
${perParamTable(metrics)}
</body></html>
`;
  const file = path.join(carrierDir, 'report.html');
  writeFileSync(file, html);
  return file;
}
