import { formatMarkdown, formatNumber, formatTable, meets, median, percentile, row, type BenchResult } from './report';

describe('benchmark report', () => {
  describe('percentile (nearest rank)', () => {
    it('answers a measured value, the smallest with p % at or below it', () => {
      const values = [15, 20, 35, 40, 50];
      expect(percentile(values, 5)).toBe(15);
      expect(percentile(values, 30)).toBe(20);
      expect(percentile(values, 40)).toBe(20);
      expect(percentile(values, 50)).toBe(35);
      expect(percentile(values, 100)).toBe(50);
      expect(percentile(values, 0)).toBe(15);
    });

    it('does not depend on the order of the values, and leaves them unsorted', () => {
      const values = [9, 1, 5, 3, 7, 2, 8, 4, 6, 10];
      expect(percentile(values, 99)).toBe(10);
      expect(percentile(values, 90)).toBe(9);
      expect(values[0]).toBe(9);
    });

    it('refuses an empty list and a percentile outside 0–100', () => {
      expect(() => percentile([], 50)).toThrow('no values');
      expect(() => percentile([1], 101)).toThrow('0–100');
      expect(() => percentile([1], Number.NaN)).toThrow('0–100');
    });

    it('median: the middle value, or the mean of the two middle ones', () => {
      expect(median([3, 1, 2])).toBe(2);
      expect(median([4, 1, 3, 2])).toBe(2.5);
      expect(() => median([])).toThrow('no values');
    });
  });

  describe('targets', () => {
    it('checks a minimum ratio, a maximum ratio and a maximum excess over the baseline', () => {
      expect(meets(80, 100, { min: 0.8 })).toBe(true);
      expect(meets(79, 100, { min: 0.8 })).toBe(false);
      expect(meets(300, 100, { max: 3 })).toBe(true);
      expect(meets(301, 100, { max: 3 })).toBe(false);
      expect(meets(11, 1, { maxOver: 10 })).toBe(true);
      expect(meets(11.5, 1, { maxOver: 10 })).toBe(false);
      expect(meets(1, 1, undefined)).toBeUndefined();
    });

    it('a baseline of zero gives no ratio and misses a ratio target', () => {
      const r = row({ case: 'x', metric: 'MB/s', filehub: 5, baseline: 0, target: { min: 0.5 } });
      expect(r.ratio).toBeNaN();
      expect(r.met).toBe(false);
    });
  });

  describe('tables', () => {
    const result: BenchResult = {
      name: 'upload',
      title: 'Upload',
      baseline: 'raw',
      rows: [
        row({ case: 'multipart 1 MiB', metric: 'MB/s', filehub: 150, baseline: 200, target: { min: 0.8 } }),
        row({ case: 'a|b', metric: 'TTFB ms', filehub: 4.25, baseline: 1.5, target: { maxOver: 10 } }),
      ],
      skipped: [],
      seconds: 1,
    };

    it('prints aligned columns with the ratio and the verdict', () => {
      const lines = formatTable([result]).split('\n');
      expect(lines[0]).toMatch(/^benchmark\s+case\s+metric\s+filehub\s+baseline\s+ratio\s+target$/);
      expect(lines[2]).toMatch(/^upload\s+multipart 1 MiB\s+MB\/s\s+150\s+200\s+0\.75\s+ratio ≥ 0\.8\s+MISSED$/);
      expect(lines[3]).toMatch(/TTFB ms\s+4\.25\s+1\.50\s+2\.83\s+≤ baseline \+ 10\s+met$/);
      // Every row as wide as the header row's columns: the numbers line up.
      expect(lines[2]!.indexOf('150') + 3).toBe(lines[0]!.indexOf('filehub') + 'filehub'.length);
    });

    it('writes Markdown with escaped cells and right-aligned numbers', () => {
      const lines = formatMarkdown([result]).split('\n');
      expect(lines[1]).toBe('|---|---|---|---:|---:|---:|---|---|');
      expect(lines[3]).toContain('| a\\|b |');
    });

    it('formats numbers to about three significant digits', () => {
      expect(formatNumber(1234.5)).toBe('1235');
      expect(formatNumber(12.345)).toBe('12.3');
      expect(formatNumber(1.2345)).toBe('1.23');
      expect(formatNumber(0.01234)).toBe('0.012');
      expect(formatNumber(0)).toBe('0');
      expect(formatNumber(Number.NaN)).toBe('–');
    });
  });
});
