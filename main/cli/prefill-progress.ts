/** Below this many tokens reading is quick and needs no progress line. */
const QUIET_BELOW_TOKENS = 2048;
const EVERY_MS = 1000;

/**
 * "Reading your message: 12,288 of 40,960 tokens" on stderr while a long paste is fed, at most once a second:
 * redrawn in place on a terminal, one line each time otherwise.
 */
export class PrefillProgress {
  private lastAt = 0;
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(done: number, total: number): void {
    if (total < QUIET_BELOW_TOKENS || performance.now() - this.lastAt < EVERY_MS) return;
    this.lastAt = performance.now();
    const line = `[reading your message: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} tokens]`;
    this.out.write(this.out.isTTY ? `\r${line}` : `${line}\n`);
    this.shown = true;
  }

  end(): void {
    if (this.shown && this.out.isTTY) this.out.write('\n');
    this.shown = false;
  }
}
