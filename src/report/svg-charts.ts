/**
 * Inline SVG charts for the HTML report: grouped horizontal bars (improvements per family) and
 * box plots with the individual notes overlaid (distance distributions). Plain strings, no
 * scripts, no external fonts (text inherits the page's system font), so a page stays
 * self-contained; every chart carries a <title> and a <desc> for screen readers.
 */
import { escapeHtml, formatNumber } from './format.ts';

/** A data series of a chart: one colour, one value per category. */
export interface ChartSeries {
  readonly name: string;
  /** CSS colour. */
  readonly color: string;
  /** One value per category; NaN is drawn as "no data". */
  readonly values: readonly number[];
}

/** Options of `groupedBarChartSvg`. */
export interface BarChartOptions {
  /** Unique within the page (used for aria ids). */
  readonly id: string;
  readonly title: string;
  /** Category labels, top to bottom (e.g. families). */
  readonly categories: readonly string[];
  readonly series: readonly ChartSeries[];
  /** Formats a value for tick and bar labels (e.g. as a percentage). */
  readonly format: (v: number) => string;
  /** Axis label, with its unit. */
  readonly axisLabel: string;
  /** Optional dashed reference line, e.g. the paper's overall figure. */
  readonly reference?: { readonly value: number; readonly label: string };
  /** Total width, px (default 350). */
  readonly width?: number;
}

/** Options of `boxPlotSvg`. */
export interface BoxPlotOptions {
  readonly id: string;
  readonly title: string;
  /** One box per series (its `values` are the observations, any count). */
  readonly series: readonly ChartSeries[];
  /** Axis label, with its unit. */
  readonly axisLabel: string;
  /** Total width, px (default 460). */
  readonly width?: number;
}

/** Rounds for SVG coordinates: short, and the same bytes on every run. */
function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/**
 * About `count` evenly spaced "nice" tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi].
 *
 * @returns ascending ticks; the first ≤ lo and the last ≥ hi.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks: number[] = [];
  // Multiply rather than accumulate so that ticks are exact multiples (no 0.30000000000000004).
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

function titleAndDesc(id: string, title: string, desc: string): string {
  return `<title id="${id}-title">${escapeHtml(title)}</title><desc id="${id}-desc">${escapeHtml(desc)}</desc>`;
}

function legend(series: readonly ChartSeries[], x: number, y: number): string {
  let out = '';
  let cx = x;
  for (const s of series) {
    out += `<rect x="${px(cx)}" y="${px(y - 9)}" width="10" height="10" fill="${escapeHtml(s.color)}"/>`;
    out += `<text x="${px(cx + 14)}" y="${px(y)}" font-size="11">${escapeHtml(s.name)}</text>`;
    cx += 22 + 6.5 * s.name.length;
  }
  return out;
}

/**
 * Horizontal grouped bars: one group per category, one bar per series, a zero line (values may
 * be negative), value labels at the bar ends.
 *
 * @returns an `<svg>` element as a string.
 */
export function groupedBarChartSvg(o: BarChartOptions): string {
  const width = o.width ?? 350;
  const labelW = 78;
  const right = 46;
  const top = 42;
  const barH = 11;
  const groupGap = 8;
  const groupH = o.series.length * barH + groupGap;
  const plotH = o.categories.length * groupH;
  const height = top + plotH + 34;
  const values = o.series.flatMap((s) => s.values).filter(Number.isFinite);
  if (o.reference) values.push(o.reference.value);
  const ticks = niceTicks(Math.min(0, ...values), Math.max(0, ...values), 4);
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const x = (v: number): number => labelW + ((v - lo) / (hi - lo)) * (width - labelW - right);
  const desc = o.categories
    .map((c, i) => `${c}: ${o.series.map((s) => `${s.name} ${o.format(s.values[i])}`).join(', ')}`)
    .join('; ');
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${o.id}-title ${o.id}-desc">`;
  svg += titleAndDesc(o.id, o.title, desc);
  svg += `<text x="0" y="14" font-size="13" font-weight="600">${escapeHtml(o.title)}</text>`;
  svg += legend(o.series, labelW, 31);
  for (const t of ticks) {
    svg += `<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${top}" y2="${top + plotH}" stroke="#ddd"/>`;
    svg += `<text x="${px(x(t))}" y="${px(top + plotH + 13)}" font-size="10" text-anchor="middle" fill="#444">${escapeHtml(o.format(t))}</text>`;
  }
  svg += `<text x="${px((labelW + width - right) / 2)}" y="${px(height - 4)}" font-size="11" text-anchor="middle" fill="#444">${escapeHtml(o.axisLabel)}</text>`;
  o.categories.forEach((c, i) => {
    const gy = top + i * groupH + groupGap / 2;
    svg += `<text x="${labelW - 6}" y="${px(gy + (o.series.length * barH) / 2 + 4)}" font-size="11" text-anchor="end">${escapeHtml(c)}</text>`;
    o.series.forEach((s, j) => {
      const v = s.values[i];
      const y = gy + j * barH;
      if (!Number.isFinite(v)) {
        svg += `<text x="${px(x(0) + 3)}" y="${px(y + barH - 1)}" font-size="9" fill="#666">n/a</text>`;
        return;
      }
      const x0 = Math.min(x(0), x(v));
      const w = Math.max(0.5, Math.abs(x(v) - x(0)));
      svg += `<rect x="${px(x0)}" y="${px(y + 0.5)}" width="${px(w)}" height="${barH - 1}" fill="${escapeHtml(s.color)}"><title>${escapeHtml(`${c}, ${s.name}: ${o.format(v)}`)}</title></rect>`;
      const lx = v >= 0 ? x(v) + 3 : x(v) - 3;
      svg += `<text x="${px(lx)}" y="${px(y + barH - 2)}" font-size="10" text-anchor="${v >= 0 ? 'start' : 'end'}" fill="#333">${escapeHtml(o.format(v))}</text>`;
    });
  });
  svg += `<line x1="${px(x(0))}" x2="${px(x(0))}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`;
  if (o.reference && Number.isFinite(o.reference.value)) {
    const rx = px(x(o.reference.value));
    svg += `<line x1="${rx}" x2="${rx}" y1="${top - 4}" y2="${top + plotH}" stroke="#000" stroke-dasharray="4 3"><title>${escapeHtml(o.reference.label)}</title></line>`;
  }
  return `${svg}</svg>`;
}

/** Quantile by linear interpolation between order statistics (numpy's default, "type 7"). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** Deterministic jitter in [−0.5, 0.5) for point i (a fixed hash, no Math.random: same bytes every run). */
function jitter(i: number): number {
  let h = (i + 1) * 2654435761;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 2246822519) >>> 0;
  return ((h ^ (h >>> 13)) >>> 0) / 4294967296 - 0.5;
}

/**
 * Horizontal box plots, one row per series: box from the first to the third quartile, median
 * line, whiskers to the furthest observation within 1.5 × IQR (Tukey), and every observation as a
 * jittered dot, so that small groups are not hidden behind a box.
 *
 * @returns an `<svg>` element as a string.
 */
export function boxPlotSvg(o: BoxPlotOptions): string {
  const width = o.width ?? 460;
  const labelW = 90;
  const right = 28;
  const top = 22;
  const rowH = 30;
  const plotH = o.series.length * rowH;
  const height = top + plotH + 34;
  const all = o.series.flatMap((s) => s.values).filter(Number.isFinite);
  const ticks = niceTicks(Math.min(0, ...all), all.length ? Math.max(...all) : 1, 4);
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const x = (v: number): number => labelW + ((v - lo) / (hi - lo)) * (width - labelW - right);
  const summaries = o.series.map((s) => {
    const v = s.values.filter(Number.isFinite).slice().sort((a, b) => a - b);
    const q1 = quantile(v, 0.25);
    const q3 = quantile(v, 0.75);
    const iqr = q3 - q1;
    const inside = v.filter((t) => t >= q1 - 1.5 * iqr && t <= q3 + 1.5 * iqr);
    return { v, q1, med: quantile(v, 0.5), q3, wlo: inside[0] ?? NaN, whi: inside[inside.length - 1] ?? NaN };
  });
  const desc = o.series
    .map((s, i) => {
      const m = summaries[i];
      return `${s.name}: ${m.v.length} notes, median ${formatNumber(m.med)}, quartiles ${formatNumber(m.q1)} to ${formatNumber(m.q3)}`;
    })
    .join('; ');
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${o.id}-title ${o.id}-desc">`;
  svg += titleAndDesc(o.id, o.title, desc);
  svg += `<text x="0" y="14" font-size="13" font-weight="600">${escapeHtml(o.title)}</text>`;
  for (const t of ticks) {
    svg += `<line x1="${px(x(t))}" x2="${px(x(t))}" y1="${top}" y2="${top + plotH}" stroke="#ddd"/>`;
    svg += `<text x="${px(x(t))}" y="${px(top + plotH + 13)}" font-size="10" text-anchor="middle" fill="#444">${escapeHtml(formatNumber(t, 3))}</text>`;
  }
  svg += `<text x="${px((labelW + width - right) / 2)}" y="${px(height - 4)}" font-size="11" text-anchor="middle" fill="#444">${escapeHtml(o.axisLabel)}</text>`;
  o.series.forEach((s, i) => {
    const m = summaries[i];
    const cy = top + i * rowH + rowH / 2;
    const color = escapeHtml(s.color);
    svg += `<text x="${labelW - 6}" y="${px(cy + 4)}" font-size="11" text-anchor="end">${escapeHtml(s.name)}</text>`;
    if (m.v.length === 0) return;
    svg += `<line x1="${px(x(m.wlo))}" x2="${px(x(m.whi))}" y1="${px(cy)}" y2="${px(cy)}" stroke="${color}"/>`;
    for (const w of [m.wlo, m.whi]) svg += `<line x1="${px(x(w))}" x2="${px(x(w))}" y1="${px(cy - 5)}" y2="${px(cy + 5)}" stroke="${color}"/>`;
    svg += `<rect x="${px(x(m.q1))}" y="${px(cy - 9)}" width="${px(Math.max(1, x(m.q3) - x(m.q1)))}" height="18" fill="${color}" fill-opacity="0.18" stroke="${color}"/>`;
    svg += `<line x1="${px(x(m.med))}" x2="${px(x(m.med))}" y1="${px(cy - 9)}" y2="${px(cy + 9)}" stroke="${color}" stroke-width="2.5"/>`;
    m.v.forEach((v, k) => {
      svg += `<circle cx="${px(x(v))}" cy="${px(cy + jitter(k) * 12)}" r="2.2" fill="${color}" fill-opacity="0.7"/>`;
    });
  });
  return `${svg}</svg>`;
}
