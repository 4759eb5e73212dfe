/** Progress of a long run on stderr: tokens done, tokens per second, ETA. Redraws one line on a terminal. */
export class ProgressMeter {
  private started = performance.now();
  private lastDraw = performance.now();
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream | null = process.stderr,
    /** ms between lines when stderr is not a terminal (logs stay short) */
    private readonly logEveryMs = 10_000,
  ) {}

  update(done: number): void {
    if (!this.out) return;
    const now = performance.now();
    const tty = Boolean(this.out.isTTY);
    if (done < this.total && now - this.lastDraw < (tty ? 250 : this.logEveryMs)) return;
    this.lastDraw = now;
    const line = this.line(done, now);
    if (tty) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
    this.drawn = true;
  }

  /** Ends the line (terminal) so later output starts clean. */
  finish(): void {
    if (this.out?.isTTY && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private line(done: number, now: number): string {
    const seconds = (now - this.started) / 1000;
    const rate = done / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const pct = ((100 * done) / Math.max(1, this.total)).toFixed(1);
    return `${this.label}: ${done}/${this.total} tokens (${pct}%), ${rate.toFixed(1)} tokens/s, elapsed ${formatDuration(seconds)}, ETA ${formatDuration(eta)}`;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
