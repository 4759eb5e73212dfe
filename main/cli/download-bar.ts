import { formatDuration } from '../eval/progress.js';
import type { DownloadProgress } from '../models/model-download.js';
import { TransferRate } from '../shared/transfer-rate.js';

/** `[#####-----]  45%  12.3/27.0 MiB  3.2 MiB/s  ETA 5s  onnx/model_q4.onnx` on stderr; one redrawn line on a terminal. */
export class DownloadBar {
  private readonly rate = new TransferRate();
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    /** ms between lines when stderr is not a terminal */
    private readonly logEveryMs = 2000,
  ) {}

  update(p: DownloadProgress): void {
    const now = performance.now();
    this.rate.sample(p.bytesDone, now);
    const tty = Boolean(this.out.isTTY);
    if (p.bytesDone < p.bytesTotal && now - this.lastDraw < (tty ? 200 : this.logEveryMs)) return;
    this.lastDraw = now;
    const line = downloadLine(p, this.rate.bytesPerSecond, this.rate.etaSeconds(p.bytesTotal));
    this.out.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    this.drawn = true;
  }

  finish(): void {
    if (this.out.isTTY && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export function downloadLine(p: DownloadProgress, bytesPerSecond: number, eta: number | null): string {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
  const filled = Math.round(frac * 24);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(24 - filled)}]`;
  const pct = `${(100 * frac).toFixed(0).padStart(3)}%`;
  const speed = bytesPerSecond > 0 ? `${mib(bytesPerSecond)}/s` : '-- MiB/s';
  return `${bar} ${pct}  ${mib(p.bytesDone, false)}/${mib(p.bytesTotal)}  ${speed}  ETA ${eta === null ? '?' : formatDuration(eta)}  ${p.file} (${p.fileIndex + 1}/${p.fileCount})`;
}

function mib(n: number, unit = true): string {
  return `${(n / 1024 ** 2).toFixed(1)}${unit ? ' MiB' : ''}`;
}
