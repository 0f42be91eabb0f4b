// Terminal output of the CLI: progress bars that redraw in place on a TTY (one line per file), plain lines
// otherwise, and aligned tables.

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '–';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

interface Bar {
  label: string;
  total: number;
  loaded: number;
  startedAt: number;
  note?: string;
}

const WIDTH = 30;
const FRAME_MS = 100;

/**
 * One bar per item. On a TTY the block of bars is redrawn in place (cursor up, clear line) at most every 100 ms and
 * on every finish; elsewhere (pipes, CI logs) each item prints one line when it finishes.
 */
export class ProgressBoard {
  private readonly bars: Bar[];
  private readonly tty: boolean;
  private drawn = 0;
  private lastFrame = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    items: { label: string; total: number }[],
  ) {
    this.tty = Boolean(stream.isTTY);
    this.bars = items.map((i) => ({ ...i, loaded: 0, startedAt: 0 }));
    if (this.tty) this.draw(true);
  }

  update(index: number, loaded: number): void {
    const bar = this.bars[index]!;
    if (!bar.startedAt) bar.startedAt = Date.now();
    bar.loaded = loaded;
    this.draw(false);
  }

  finish(index: number, note: string): void {
    const bar = this.bars[index]!;
    if (note === 'done') bar.loaded = bar.total;
    bar.note = note;
    if (this.tty) this.draw(true);
    else this.stream.write(`${this.render(bar)}\n`);
  }

  close(): void {
    if (this.tty) this.draw(true);
  }

  private draw(force: boolean): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastFrame < FRAME_MS) return;
    this.lastFrame = now;
    let frame = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const bar of this.bars) frame += `\x1b[2K\r${this.render(bar)}\n`;
    this.drawn = this.bars.length;
    this.stream.write(frame);
  }

  private render(bar: Bar): string {
    const ratio = bar.total > 0 ? Math.min(1, bar.loaded / bar.total) : bar.note === 'done' ? 1 : 0;
    const filled = Math.round(ratio * WIDTH);
    const seconds = bar.startedAt ? (Date.now() - bar.startedAt) / 1000 : 0;
    const rate = seconds > 0.05 ? ` ${formatBytes(bar.loaded / seconds)}/s` : '';
    const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
    return `${bar.label.slice(0, 28).padEnd(28)} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${percent} ${formatBytes(bar.loaded)}/${formatBytes(bar.total)}${rate}${bar.note && bar.note !== 'done' ? `  ${bar.note}` : ''}`;
  }
}
