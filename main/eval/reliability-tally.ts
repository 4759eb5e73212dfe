/**
 * The count a reliability suite reports: every case is tried, and either handled (the product did what it
 * must: refused with a sentence, recovered, lost nothing) or bad, with why. Suites run at `reliabilityScale()`
 * times their default size: 1 in `npm test`, more with PERPETUA_RELIABILITY_SCALE=N.
 */
export class ReliabilityTally {
  tried = 0;
  handled = 0;
  readonly bad: string[] = [];

  constructor(readonly suite: string) {}

  /** One case: `run` throws (an assertion) when the product misbehaved. */
  async check(name: string, run: () => unknown): Promise<void> {
    this.tried++;
    try {
      await run();
      this.handled++;
    } catch (err) {
      this.bad.push(`${name}: ${(err as Error)?.message ?? err}`);
    }
  }

  get summary(): string {
    return `${this.suite}: tried ${this.tried}, handled ${this.handled}, bad ${this.bad.length}`;
  }

  /** Prints the summary line (and the bad cases) for the suite's log. */
  print(): void {
    console.log([this.summary, ...this.bad.slice(0, 20).map((b) => `  bad: ${b}`)].join('\n'));
  }
}

export function reliabilityScale(): number {
  const n = Number(process.env.PERPETUA_RELIABILITY_SCALE ?? 1);
  return Number.isFinite(n) && n > 0 ? n : 1;
}
