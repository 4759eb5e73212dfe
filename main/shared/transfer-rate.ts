/** Speed (bytes, tokens: any running count) over the last few seconds (not since the start, so a resumed or throttled transfer reads true) and ETA. */
export class TransferRate {
  private readonly samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records the running byte count at time `at` (ms). */
  sample(bytes: number, at = performance.now()): void {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  get bytesPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || last.at - first.at < 200) return 0;
    return Math.max(0, (1000 * (last.bytes - first.bytes)) / (last.at - first.at));
  }

  /** Seconds until `total` at the current speed; null while the speed is unknown. */
  etaSeconds(total: number): number | null {
    const last = this.samples[this.samples.length - 1];
    const rate = this.bytesPerSecond;
    if (!last || rate <= 0) return null;
    return Math.max(0, (total - last.bytes) / rate);
  }
}
