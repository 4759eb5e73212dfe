import { TransferRate } from './transfer-rate.js';

/** How far a long operation is: `done` of `total` (tokens or bytes), and the seconds left at the recent rate. */
export interface ProgressFigures {
  done: number;
  total: number;
  /** null while the rate is not known yet */
  etaSeconds: number | null;
}

/**
 * Turns a running count into progress figures with an ETA, a few times a second at most (a packet per model
 * run would flood a slow renderer); the first and the last count always pass, a repeat never.
 */
export class ProgressTicker {
  private readonly rate = new TransferRate();
  private last = -Infinity;
  private sent: { done: number; total: number } | null = null;

  constructor(private readonly everyMs = 100) {}

  tick(done: number, total: number, at = performance.now()): ProgressFigures | null {
    this.rate.sample(done, at);
    if (done < total && at - this.last < this.everyMs) return null;
    if (this.sent?.done === done && this.sent.total === total) return null; // nothing new to say
    this.last = at;
    this.sent = { done, total };
    const eta = this.rate.etaSeconds(total);
    return { done, total, etaSeconds: eta === null ? null : Math.round(eta * 10) / 10 };
  }
}
