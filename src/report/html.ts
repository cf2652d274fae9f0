/**
 * The HTML report of an evaluation (issue 5): `index.html` (run info, overall tables beside the
 * paper's Table 6, per-family charts, skipped notes) and one `<family>.html` per family (its
 * tables, distance distributions, and for the best, median and worst note spectrograms and audio
 * players for the original, the resyntheses and the baselines).
 *
 * Self-contained and offline: CSS inline, charts inline SVG, spectrograms PNG and audio WAV as
 * `data:` URIs, no script at all. Audio is embedded rather than written beside the page so that
 * each page is one file that keeps working when copied, mailed or opened from anywhere (a relative
 * `audio/…` path breaks as soon as the page moves without its folder); the cost, about 171 kB of
 * base64 per 4-s clip, is bounded by the few example notes per family page (≤ 3 × 5 clips).
 *
 * The report does not know how audio was made: the caller passes an `AudioProvider`. Output bytes
 * are a function of the input alone (no clock, no locale, no randomness).
 */
import { aggregate, compareFamilies, OVERALL_GROUP, sortResults, SYSTEM_ORDER, systemsPresent } from '../eval/aggregate.ts';
import { BASELINES, METRICS, type Metric, type NoteResult, type SkippedNote, type SummaryRow, type SystemName } from '../eval/types.ts';
import { SpectrogramPlan } from '../features/spectra.ts';
import { writeReportFiles, type ReportFile } from './csv.ts';
import { escapeHtml, familyFileStem, formatNumber, formatPercent } from './format.ts';
import { logMelPngDataUri, maxDb, preparedLogMel, SPECTROGRAM_RANGE_DB, wavDataUri, type LogMel } from './media.ts';
import { boxPlotSvg, groupedBarChartSvg, type ChartSeries } from './svg-charts.ts';

/** What a clip is of: the note itself, or one system's rendering of it. */
export type AudioSource = 'original' | SystemName;

/**
 * Supplies the audio of a note: the original note or a system's output for it, 16 kHz mono
 * (any length; prepared to 64 000 samples as in spec §5). Return null (or undefined) when there is
 * none; the page then says so instead of showing a player. Called only for the few example notes
 * of each family page, one call at a time.
 */
export type AudioProvider = (note: NoteResult, source: AudioSource) => Float32Array | null | undefined | Promise<Float32Array | null | undefined>;

/** Facts about the run shown at the top of the index, in the order given. */
export interface RunInfo {
  /** Run name (e.g. the `reports/<run>` folder name). */
  readonly name: string;
  /** Label–value pairs: model, dataset, date, command line, …; shown as given. */
  readonly facts?: readonly (readonly [string, string])[];
}

/** Everything the HTML report is made from. */
export interface HtmlReportInput {
  readonly results: readonly NoteResult[];
  readonly skipped: readonly SkippedNote[];
  /** `aggregate(results)`; computed when omitted (pass it to share one summary with the CSV files). */
  readonly summary?: readonly SummaryRow[];
  readonly run: RunInfo;
  readonly audio: AudioProvider;
  /**
   * The system whose log-mel distance ranks the example notes and which the family overview
   * shows; default the first resynthesis present (cnn, then ddx7), else the first system.
   */
  readonly mainSystem?: SystemName;
}

/** Human names of the systems. */
export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = Object.freeze({
  cnn: 'CNN resynthesis',
  cnn_pitch: 'CNN patch, carrier at the note’s pitch (ours)',
  cnn_refined: 'CNN patch refined by re-rendering (ours)',
  ddx7: 'DDX7 resynthesis',
  sine440: 'Sine 440 Hz (paper’s baseline)',
  pitched: 'Pitched sine (our baseline)',
});

/** Short names for chart legends. */
const SHORT_LABELS: Readonly<Record<SystemName, string>> = { cnn: 'CNN', cnn_pitch: 'CNN + pitch', cnn_refined: 'CNN + search', ddx7: 'DDX7', sine440: 'sine 440', pitched: 'pitched sine' };

/** Okabe–Ito colours, distinguishable with the common colour-vision deficiencies. */
export const SYSTEM_COLORS: Readonly<Record<SystemName, string>> = Object.freeze({
  cnn: '#0072B2',
  cnn_pitch: '#56B4E9',
  cnn_refined: '#CC79A7',
  ddx7: '#D55E00',
  sine440: '#7a7a7a',
  pitched: '#009E73',
});

/** Column headings with units. FFT and STFT distances are in the linear magnitude units of unnormalised transforms of peak-1 signals. */
const METRIC_HEADINGS: Readonly<Record<Metric, string>> = {
  fft: 'FFT distance',
  stft: 'STFT distance',
  logmel: 'Log-mel distance (dB)',
  logmel_normalized: 'Log-mel normalized (dB / cell)',
};

/** The same headings broken where a narrow column should wrap. */
const METRIC_HEADINGS_HTML: Readonly<Record<Metric, string>> = {
  fft: 'FFT<br>distance',
  stft: 'STFT<br>distance',
  logmel: 'Log-mel<br>distance (dB)',
  logmel_normalized: 'Log-mel normalized<br>(dB / cell)',
};

/** Short column headings (units given in the caption). */
const METRIC_SHORT: Readonly<Record<Metric, string>> = { fft: 'FFT', stft: 'STFT', logmel: 'Log-mel', logmel_normalized: 'Log-mel normalized' };

/** Metrics whose improvement is shown: the normalized log-mel's equals the raw one's (one constant divisor). */
const IMPROVEMENT_METRICS: readonly Metric[] = ['fft', 'stft', 'logmel'];

/**
 * The paper's Table 6 (NSynth test, 4 096 notes). FFT and STFT means are comparable with ours
 * (spec §5: our sine-440 baseline lands within 2 %); log-mel means are on another scale, so only
 * its improvement compares.
 */
export const PAPER_TABLE6 = Object.freeze({
  cnnMean: { fft: 15640.799, stft: 2772.46, logmel: 144.194, logmel_normalized: 0.00894 } as Readonly<Record<Metric, number>>,
  sine440Mean: { fft: 33508.78, stft: 7290.362, logmel: 184.872, logmel_normalized: 0.01146 } as Readonly<Record<Metric, number>>,
  improvementOverSine440: { fft: 0.5334, stft: 0.6195, logmel: 0.22, logmel_normalized: 0.2199 } as Readonly<Record<Metric, number>>,
});

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; color: #1a1a1a; background: #fff;
  max-width: 1180px; margin: 0 auto; padding: 1rem 1.5rem 3rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: .5rem 0 .25rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
a { color: #0b5cad; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 .35rem; }
caption small { font-weight: 400; color: #555; display: block; }
th, td { padding: .3rem .65rem; border-bottom: 1px solid #e2e2e2; text-align: right; white-space: nowrap; }
thead th { border-bottom: 2px solid #444; vertical-align: bottom; font-weight: 600; }
th[scope=row], td.text, th.text { text-align: left; }
td.reason { white-space: normal; text-align: left; }
tr.paper th, tr.paper td { color: #555; font-style: italic; background: #f7f7f7; }
.pm { color: #666; }
.swatch { display: inline-block; width: .75em; height: .75em; margin-right: .4em; border-radius: 2px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0 1rem; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1.25rem 1.5rem; align-items: flex-start; }
svg.chart { font-family: inherit; max-width: 100%; height: auto; }
.examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(262px, 1fr)); gap: 1rem; }
figure { margin: 0; padding: .5rem; border: 1px solid #ddd; border-radius: 4px; }
figcaption { font-size: .9rem; margin-bottom: .35rem; } figcaption .d { color: #555; display: block; }
figure img { width: 100%; max-width: 252px; height: auto; aspect-ratio: 126 / 128; display: block; margin-bottom: .4rem; background: #440154; }
audio { width: 100%; max-width: 252px; }
p.note, .note { color: #555; font-size: .9rem; }
nav { font-size: .95rem; }
`;

function page(title: string, rawBody: string): string {
  // A wide table scrolls inside its own box on a narrow screen instead of widening the page.
  const body = rawBody.replace(/<table>/g, '<div class="table-wrap"><table>').replace(/<\/table>/g, '</table></div>');
  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    // No network at all: anything not inline is refused, which the browser test relies on.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src data:">\n` +
    `<title>${escapeHtml(title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body}\n</body>\n</html>\n`
  );
}

function swatch(system: SystemName): string {
  return `<span class="swatch" style="background:${SYSTEM_COLORS[system]}" aria-hidden="true"></span>`;
}

/** The rows of one group, in SYSTEM_ORDER. */
function groupRows(summary: readonly SummaryRow[], group: string): SummaryRow[] {
  return summary.filter((r) => r.group === group);
}

/** Table: mean ± sample std per system and metric, with the paper's comparable means beside. */
function distanceTable(rows: readonly SummaryRow[], caption: string, withPaper: boolean): string {
  let h = `<table>\n<caption>${escapeHtml(caption)}<small>Mean ± sample standard deviation (n − 1) over the notes; lower is closer to the original. FFT and STFT distances are L2 norms of magnitude spectra of peak-normalized signals (spec §5).</small></caption>\n`;
  h += `<thead><tr><th scope="col" class="text">System</th><th scope="col">Notes</th>${METRICS.map((m) => `<th scope="col">${METRIC_HEADINGS_HTML[m]}</th>`).join('')}</tr></thead>\n<tbody>\n`;
  for (const r of rows) {
    h += `<tr><th scope="row">${swatch(r.system)}${escapeHtml(SYSTEM_LABELS[r.system])}</th><td>${r.notes}</td>`;
    for (const m of METRICS) h += `<td>${formatNumber(r.stats[m].mean)} <span class="pm">± ${formatNumber(r.stats[m].std)}</span></td>`;
    h += '</tr>\n';
  }
  if (withPaper) {
    for (const [label, means] of [
      ['Paper: CNN (Table 6)', PAPER_TABLE6.cnnMean],
      ['Paper: sine 440 (Table 6)', PAPER_TABLE6.sine440Mean],
    ] as const) {
      h += `<tr class="paper"><th scope="row">${escapeHtml(label)}</th><td>4 096</td>`;
      for (const m of METRICS) h += `<td>${formatNumber(means[m])}${m === 'logmel' || m === 'logmel_normalized' ? '*' : ''}</td>`;
      h += '</tr>\n';
    }
  }
  h += '</tbody>\n</table>\n';
  if (withPaper) h += `<p class="note">* The paper’s log-mel figures are on a different scale from ours (spec §5): compare log-mel only through the improvement below. Its FFT and STFT means are comparable.</p>\n`;
  return h;
}

/** Table: improvement of each system over each baseline, with the paper's Table 6 figures. */
function improvementTable(rows: readonly SummaryRow[], caption: string, withPaper: boolean): string {
  const metricHeads = IMPROVEMENT_METRICS.map((m) => `<th scope="col">${METRIC_SHORT[m]}</th>`).join('');
  let h = `<table>\n<caption>${escapeHtml(caption)}<small>(baseline mean − system mean) / baseline mean, in %; higher is better, negative is worse than the baseline. The normalized log-mel improvement equals the log-mel one.</small></caption>\n`;
  h += `<thead><tr><th scope="col" rowspan="2" class="text">System</th>${BASELINES.map((b) => `<th scope="colgroup" colspan="${IMPROVEMENT_METRICS.length}">over ${escapeHtml(SHORT_LABELS[b])}</th>`).join('')}</tr>\n`;
  h += `<tr>${BASELINES.map(() => metricHeads).join('')}</tr></thead>\n<tbody>\n`;
  for (const r of rows) {
    h += `<tr><th scope="row">${swatch(r.system)}${escapeHtml(SYSTEM_LABELS[r.system])}</th>`;
    for (const b of BASELINES) for (const m of IMPROVEMENT_METRICS) h += `<td>${formatPercent(r.improvement[b]?.[m] ?? NaN)}</td>`;
    h += '</tr>\n';
  }
  if (withPaper) {
    h += `<tr class="paper"><th scope="row">Paper: CNN (Table 6)</th>`;
    for (const b of BASELINES) for (const m of IMPROVEMENT_METRICS) h += `<td>${b === 'sine440' ? formatPercent(PAPER_TABLE6.improvementOverSine440[m]) : '—'}</td>`;
    h += '</tr>\n';
  }
  return `${h}</tbody>\n</table>\n`;
}

function resynthesisSystems(systems: readonly SystemName[]): SystemName[] {
  return systems.filter((s) => !BASELINES.includes(s));
}

function chooseMainSystem(systems: readonly SystemName[], requested?: SystemName): SystemName | undefined {
  if (requested !== undefined) {
    if (!systems.includes(requested)) throw new Error(`main system ${requested} has no results (present: ${systems.join(', ') || 'none'})`);
    return requested;
  }
  return resynthesisSystems(systems)[0] ?? systems[0];
}

function indexPage(input: HtmlReportInput, summary: readonly SummaryRow[], families: readonly string[], systems: readonly SystemName[], main: SystemName | undefined): string {
  const { run, results, skipped } = input;
  let b = `<header>\n<h1>FM resynthesis of NSynth notes — ${escapeHtml(run.name)}</h1>\n`;
  b += `<dl class="facts">\n`;
  for (const [k, v] of run.facts ?? []) b += `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>\n`;
  b += `<dt>Notes evaluated</dt><dd>${results.length}</dd>\n<dt>Notes skipped</dt><dd>${skipped.length}${skipped.length ? ' (<a href="#skipped">listed below</a>)' : ''}</dd>\n`;
  b += `<dt>Families</dt><dd>${families.map((f) => `<a href="${escapeHtml(familyFileStem(f))}.html">${escapeHtml(f)}</a>`).join(', ') || 'none'}</dd>\n`;
  b += `<dt>Systems</dt><dd>${systems.map((s) => escapeHtml(SYSTEM_LABELS[s])).join(', ') || 'none'}</dd>\n`;
  b += `<dt>Data</dt><dd><a href="notes.csv">notes.csv</a>, <a href="summary.csv">summary.csv</a>, <a href="skipped.csv">skipped.csv</a></dd>\n</dl>\n</header>\n<main>\n`;

  const overall = groupRows(summary, OVERALL_GROUP);
  b += `<section aria-labelledby="overall-h">\n<h2 id="overall-h">Overall</h2>\n`;
  if (overall.length === 0) b += `<p>No note was evaluated.</p>\n`;
  else {
    b += distanceTable(overall, `Distances to the original notes, all ${results.length} notes`, true);
    b += improvementTable(overall, 'Improvement over the baselines, all notes', true);
  }
  b += `</section>\n`;

  if (families.length > 0 && main !== undefined) {
    b += `<section aria-labelledby="families-h">\n<h2 id="families-h">Per family</h2>\n`;
    b += familyOverviewTable(summary, families, main);
    b += `<div class="charts">\n`;
    for (const baseline of BASELINES) {
      // Over the pitched sine, sine 440 is far below zero and would squash the other bars.
      const shown = systems.filter((s) => s !== baseline && (baseline === 'sine440' || !BASELINES.includes(s)));
      if (shown.length === 0) continue;
      for (const m of IMPROVEMENT_METRICS) {
        const series: ChartSeries[] = shown.map((s) => ({
          name: SHORT_LABELS[s],
          color: SYSTEM_COLORS[s],
          values: families.map((f) => summary.find((r) => r.group === f && r.system === s)?.improvement[baseline]?.[m] ?? NaN),
        }));
        b += groupedBarChartSvg({
          id: `chart-${baseline}-${m}`,
          title: `${METRIC_SHORT[m]} improvement over ${SHORT_LABELS[baseline]}`,
          categories: families,
          series,
          format: (v) => formatPercent(v, 0),
          axisLabel: 'improvement (%), higher is better',
          reference: baseline === 'sine440' ? { value: PAPER_TABLE6.improvementOverSine440[m], label: `paper’s CNN overall: ${formatPercent(PAPER_TABLE6.improvementOverSine440[m])}` } : undefined,
        });
        b += '\n';
      }
    }
    b += `</div>\n<p class="note">Dashed line: the paper’s overall improvement over sine 440 (Table 6). Bars for families with no result for a system read “n/a”.</p>\n</section>\n`;
  }

  b += `<section aria-labelledby="skipped-h">\n<h2 id="skipped"><span id="skipped-h">Skipped notes (${skipped.length})</span></h2>\n`;
  b += skipped.length === 0 ? `<p>None: every note found was evaluated.</p>\n` : skippedTable(skipped);
  b += `</section>\n</main>\n`;
  return page(`fmmatch report — ${run.name}`, b);
}

function familyOverviewTable(summary: readonly SummaryRow[], families: readonly string[], main: SystemName): string {
  let h = `<table>\n<caption>Improvement of the ${escapeHtml(SYSTEM_LABELS[main])} per family<small>In %, as in the overall table; click a family for its distributions, spectrograms and audio.</small></caption>\n`;
  h += `<thead><tr><th scope="col" rowspan="2" class="text">Family</th><th scope="col" rowspan="2">Notes</th>`;
  h += BASELINES.map((b) => `<th scope="colgroup" colspan="${IMPROVEMENT_METRICS.length}">over ${escapeHtml(SHORT_LABELS[b])}</th>`).join('');
  h += `<th scope="col" rowspan="2">Mean log-mel<br>normalized (dB / cell)</th></tr>\n<tr>`;
  h += BASELINES.map(() => IMPROVEMENT_METRICS.map((m) => `<th scope="col">${METRIC_SHORT[m]}</th>`).join('')).join('');
  h += `</tr></thead>\n<tbody>\n`;
  for (const f of families) {
    const r = summary.find((x) => x.group === f && x.system === main);
    h += `<tr><th scope="row"><a href="${escapeHtml(familyFileStem(f))}.html">${escapeHtml(f)}</a></th><td>${r?.notes ?? 0}</td>`;
    for (const b of BASELINES) for (const m of IMPROVEMENT_METRICS) h += `<td>${formatPercent(r?.improvement[b]?.[m] ?? NaN)}</td>`;
    h += `<td>${formatNumber(r?.stats.logmel_normalized.mean ?? NaN)}</td></tr>\n`;
  }
  return `${h}</tbody>\n</table>\n`;
}

function skippedTable(skipped: readonly SkippedNote[]): string {
  const sorted = skipped.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let h = `<table>\n<caption>Notes that could not be evaluated, with the reason<small>Also in skipped.csv.</small></caption>\n<thead><tr><th scope="col" class="text">Note</th><th scope="col" class="text">Reason</th></tr></thead>\n<tbody>\n`;
  for (const s of sorted) h += `<tr><td class="text">${escapeHtml(s.id)}</td><td class="reason">${escapeHtml(s.reason)}</td></tr>\n`;
  return `${h}</tbody>\n</table>\n`;
}

/** Best, median and worst notes by `main`'s log-mel distance (fewer when the family has fewer notes). */
export function pickExampleNotes(results: readonly NoteResult[], main: SystemName): { label: string; result: NoteResult }[] {
  const ranked = sortResults(results)
    .filter((r) => r.distances[main] !== undefined)
    .sort((a, b) => a.distances[main]!.logmel - b.distances[main]!.logmel);
  if (ranked.length === 0) return [];
  const picks = [
    { label: 'Best', index: 0 },
    { label: 'Median', index: Math.floor((ranked.length - 1) / 2) },
    { label: 'Worst', index: ranked.length - 1 },
  ];
  const seen = new Set<number>();
  return picks.filter((p) => !seen.has(p.index) && seen.add(p.index)).map((p) => ({ label: p.label, result: ranked[p.index] }));
}

async function exampleSection(label: string, r: NoteResult, main: SystemName, audio: AudioProvider, plan: SpectrogramPlan): Promise<string> {
  const sources: AudioSource[] = ['original', ...SYSTEM_ORDER.filter((s) => r.distances[s] !== undefined)];
  const clips: { source: AudioSource; samples: Float32Array | null; spec: LogMel | null }[] = [];
  for (const source of sources) {
    const samples = (await audio(r, source)) ?? null;
    clips.push({ source, samples, spec: samples ? preparedLogMel(samples, plan) : null });
  }
  // One colour scale per note, so that its spectrograms compare by eye.
  const top = maxDb(clips.flatMap((c) => (c.spec ? [c.spec] : [])));
  const m = r.meta;
  const id = `ex-${label.toLowerCase()}`;
  let h = `<section aria-labelledby="${id}">\n<h3 id="${id}">${escapeHtml(label)}: ${escapeHtml(m.note_str)}</h3>\n`;
  h += `<p class="note">Pitch ${m.pitch} (MIDI), velocity ${m.velocity}, ${escapeHtml(m.instrument_source_str)}; ${escapeHtml(SHORT_LABELS[main])} log-mel distance ${formatNumber(r.distances[main]!.logmel)} dB.</p>\n<div class="examples">\n`;
  for (const c of clips) {
    const name = c.source === 'original' ? 'Original (NSynth)' : SYSTEM_LABELS[c.source];
    const d = c.source === 'original' ? undefined : r.distances[c.source];
    h += `<figure>\n<figcaption><strong>${escapeHtml(name)}</strong>`;
    h += d ? `<span class="d">FFT ${formatNumber(d.fft)} · STFT ${formatNumber(d.stft)}</span><span class="d">log-mel ${formatNumber(d.logmel)} dB</span>` : `<span class="d">reference</span><span class="d">&nbsp;</span>`;
    h += `</figcaption>\n`;
    if (c.samples && c.spec) {
      h += `<img src="${logMelPngDataUri(c.spec, top)}" width="${c.spec.frames}" height="${c.spec.nMels}" alt="Log-mel spectrogram of the ${escapeHtml(name.toLowerCase())}, 0 to 4 s left to right, 0 to 8 kHz bottom to top">\n`;
      h += `<audio controls preload="metadata" src="${wavDataUri(c.samples)}" aria-label="${escapeHtml(`${name}, ${m.note_str}`)}"></audio>\n`;
    } else {
      h += `<p class="note">No audio available.</p>\n`;
    }
    h += `</figure>\n`;
  }
  return `${h}</div>\n</section>\n`;
}

async function familyPage(input: HtmlReportInput, family: string, summary: readonly SummaryRow[], main: SystemName, plan: SpectrogramPlan): Promise<string> {
  const notes = input.results.filter((r) => r.meta.instrument_family_str === family);
  const rows = groupRows(summary, family);
  const systems = rows.map((r) => r.system);
  let b = `<nav><a href="index.html">← All families (index)</a></nav>\n<header><h1>Family: ${escapeHtml(family)}</h1>\n`;
  b += `<p>${notes.length} notes evaluated (${escapeHtml(input.run.name)}). Per-note values: <a href="${escapeHtml(familyFileStem(family))}.csv">${escapeHtml(familyFileStem(family))}.csv</a>.</p></header>\n<main>\n`;
  b += `<section aria-labelledby="tables-h"><h2 id="tables-h">Summary</h2>\n`;
  b += distanceTable(rows, `Distances to the original notes, ${family}`, false);
  b += improvementTable(rows, `Improvement over the baselines, ${family}`, false);
  b += `</section>\n<section aria-labelledby="dist-h"><h2 id="dist-h">Distributions</h2>\n<div class="charts">\n`;
  for (const m of IMPROVEMENT_METRICS) {
    b += boxPlotSvg({
      id: `box-${m}`,
      title: `${METRIC_SHORT[m]} distance per note`,
      series: systems.map((s) => ({ name: SHORT_LABELS[s], color: SYSTEM_COLORS[s], values: notes.flatMap((r) => (r.distances[s] ? [r.distances[s]![m]] : [])) })),
      axisLabel: m === 'logmel' ? 'distance (dB), lower is better' : 'distance (linear magnitude), lower is better',
    });
    b += '\n';
  }
  b += `</div>\n<p class="note">Box: quartiles and median; whiskers: furthest note within 1.5 × the interquartile range; dots: every note. The normalized log-mel distance is the log-mel one divided by 16 128 cells, so its distribution has the same shape.</p>\n</section>\n`;
  b += `<section aria-labelledby="ex-h"><h2 id="ex-h">Example notes</h2>\n`;
  b += `<p class="note">Best, median and worst notes by the ${escapeHtml(SYSTEM_LABELS[main])}’s log-mel distance. Spectrograms: log-mel (128 Slaney bands, 0–8 kHz, bottom to top; 0–4 s, left to right), colour over the ${SPECTROGRAM_RANGE_DB} dB below the note’s loudest cell. Audio as the distances see it: 4 s, zero-mean, peak-normalized (to −1 dBFS).</p>\n`;
  for (const { label, result } of pickExampleNotes(notes, main)) b += await exampleSection(label, result, main, input.audio, plan);
  b += `</section>\n</main>\n`;
  return page(`fmmatch report — ${family} — ${input.run.name}`, b);
}

/**
 * Builds every page of the HTML report: `index.html`, then one `<family>.html` per family
 * (NSynth id order; stems from `familyFileStem`).
 *
 * @throws when `mainSystem` is given but has no results, or a distance is not finite (`aggregate`).
 */
export async function buildHtmlFiles(input: HtmlReportInput): Promise<ReportFile[]> {
  const summary = input.summary ?? aggregate(input.results);
  const families = [...new Set(input.results.map((r) => r.meta.instrument_family_str))].sort(compareFamilies);
  const systems = systemsPresent(input.results);
  const main = chooseMainSystem(systems, input.mainSystem);
  const files: ReportFile[] = [{ name: 'index.html', content: indexPage(input, summary, families, systems, main) }];
  if (main !== undefined) {
    const plan = new SpectrogramPlan();
    for (const f of families) files.push({ name: `${familyFileStem(f)}.html`, content: await familyPage(input, f, summary, main, plan) });
  }
  return files;
}

/**
 * Writes the HTML report into `dir` (created if needed).
 *
 * @returns the absolute paths written, index.html first.
 */
export async function writeHtmlReport(dir: string, input: HtmlReportInput): Promise<string[]> {
  return writeReportFiles(dir, await buildHtmlFiles(input));
}
