/**
 * Number and text formatting shared by the report writers. Nothing here reads the locale
 * (`toLocaleString`, `Intl`): the same results must give the same bytes on every machine.
 */

/**
 * A number for a CSV cell: JavaScript's shortest round-trip form (`String(v)`), so that a reader
 * recovers the exact float64; −0 as `0`; NaN and ±∞ as the empty cell (a missing value, which is
 * what they mean here).
 */
export function csvNumber(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  return Object.is(v, -0) ? '0' : String(v);
}

/** Narrow no-break space, the thousands separator of the paper's tables ("33 508.780"). */
const THIN = '\u202f';

/** Inserts a thin space every three digits of an unsigned integer string. */
function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, THIN);
}

/**
 * A distance for a person: at least `significant` significant digits, no exponent, thousands
 * grouped with a narrow no-break space. 15640.8 → "15 641", 144.194 → "144.2", 0.008941 → "0.008941".
 *
 * @param v the value; NaN or ±∞ give "—".
 * @param significant digits kept for values below 10^significant (default 4).
 */
export function formatNumber(v: number, significant = 4): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const sign = v < 0 ? '−' : '';
  const a = Math.abs(v);
  const magnitude = Math.floor(Math.log10(a));
  const decimals = Math.max(0, significant - 1 - magnitude);
  // Tiny values keep `significant` digits without an exponent (up to toFixed's 100 decimals).
  let text = a.toFixed(Math.min(decimals, 100));
  if (/^0\.?0*$/.test(text)) text = a.toPrecision(significant);
  const [int, frac] = text.split('.');
  return sign + groupThousands(int) + (frac !== undefined ? `.${frac}` : '');
}

/**
 * A fraction as a percentage with a fixed number of decimals: 0.53341 → "53.34 %", −0.1 → "−10.00 %".
 *
 * @param fraction e.g. an improvement; NaN or ±∞ give "—".
 * @param decimals digits after the point (default 2, as the paper's tables).
 */
export function formatPercent(fraction: number, decimals = 2): string {
  if (!Number.isFinite(fraction)) return '—';
  const p = fraction * 100;
  const text = Math.abs(p).toFixed(decimals);
  // "−0.00 %" would claim a sign the rounded figure does not have.
  const negative = p < 0 && Number(text) !== 0;
  return `${negative ? '−' : ''}${text}\u00a0%`;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/**
 * A file-name stem for a family (`<stem>.csv`, `<stem>.html`): the name itself when it is a plain
 * identifier (every NSynth family is), otherwise its unsafe characters replaced by `_`; names that
 * would collide with the report's own files get a `family_` prefix. A family name from metadata
 * can therefore never write outside the report folder or over another report file.
 */
export function familyFileStem(family: string): string {
  let stem = family.replace(/[^A-Za-z0-9_-]/g, '_');
  if (stem === '' || /^(index|notes|summary|skipped)$/i.test(stem) || stem.startsWith('.')) stem = `family_${stem}`;
  return stem;
}
