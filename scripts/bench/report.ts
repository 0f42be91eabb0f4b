// Pure pieces of the benchmark suite: statistics, ratios against targets, the printed table. No I/O here.

/**
 * A target: on the ratio (filehub ÷ baseline), at least `min` when higher is better, at most `max` otherwise; or
 * `maxOver`: filehub at most that much above the baseline, in the row's unit (for latencies of a few ms, where a
 * ratio says little).
 */
export type Target = { min: number } | { max: number } | { maxOver: number };

export interface BenchRow {
  /** What was measured, e.g. `multipart 64 MiB, MinIO`. */
  case: string;
  /** The quantity, e.g. `MB/s`, `p99 ms`, `req/s`. */
  metric: string;
  filehub: number;
  baseline: number;
  /** filehub ÷ baseline. */
  ratio: number;
  target?: Target;
  met?: boolean;
  note?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  /** What the baseline is, in one line. */
  baseline: string;
  rows: BenchRow[];
  /** Cases left out, and why (e.g. MinIO not configured). */
  skipped: string[];
  seconds: number;
  details?: Record<string, unknown>;
}

/** The middle value; for an even count, the mean of the two middle ones. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The p-th percentile (0–100) by the nearest-rank method: the smallest value with at least p % of the values at
 * or below it. Nearest rank never invents a value that was not measured.
 */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile must be 0–100, not ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function ratioOf(filehub: number, baseline: number): number {
  return baseline === 0 ? Number.NaN : filehub / baseline;
}

export function meets(filehub: number, baseline: number, target: Target | undefined): boolean | undefined {
  if (!target) return undefined;
  if ('maxOver' in target) return Number.isFinite(filehub - baseline) && filehub - baseline <= target.maxOver;
  const ratio = ratioOf(filehub, baseline);
  if (Number.isNaN(ratio)) return false;
  return 'min' in target ? ratio >= target.min : ratio <= target.max;
}

/** A row with its ratio and target verdict filled in. */
export function row(fields: Omit<BenchRow, 'ratio' | 'met'>): BenchRow {
  return { ...fields, ratio: ratioOf(fields.filehub, fields.baseline), met: meets(fields.filehub, fields.baseline, fields.target) };
}

export function formatTarget(target: Target | undefined): string {
  if (!target) return '';
  if ('maxOver' in target) return `≤ baseline + ${target.maxOver}`;
  return 'min' in target ? `ratio ≥ ${target.min}` : `ratio ≤ ${target.max}`;
}

/** Three significant digits, without exponent notation; a dash for a value that could not be measured. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toString();
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return '';
  return met ? 'met' : 'MISSED';
}

const HEADER = ['benchmark', 'case', 'metric', 'filehub', 'baseline', 'ratio', 'target', ''];

function cellsOf(result: BenchResult): string[][] {
  return result.rows.map((r) => [
    result.name,
    r.case,
    r.metric,
    formatNumber(r.filehub),
    formatNumber(r.baseline),
    formatNumber(r.ratio),
    formatTarget(r.target),
    verdict(r.met),
  ]);
}

/** A fixed-width text table of every row, numbers right-aligned. */
export function formatTable(results: BenchResult[]): string {
  const rows = results.flatMap(cellsOf);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((cells) => cells[i]!.length)));
  const numeric = new Set([3, 4, 5]);
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The same rows as a Markdown table (docs/benchmarks.md). */
export function formatMarkdown(results: BenchResult[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const rows = results.flatMap(cellsOf);
  const header = ['benchmark', 'case', 'metric', 'filehub', 'baseline', 'ratio', 'target', 'verdict'];
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => ([3, 4, 5].includes(i) ? '---:' : '---')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.map(escape).join(' | ')} |`),
  ].join('\n');
}
