/**
 * Watches streamed text for stop strings. Text that could still become a stop string is held back, so the
 * user never sees half of one.
 */
export class StopStringMatcher {
  private full = '';
  private emitted = 0;
  private stoppedAt: number | null = null;

  constructor(private readonly stops: string[]) {}

  /** The visible text so far (without any stop string). */
  get text(): string {
    return this.full.slice(0, this.stoppedAt ?? this.emitted);
  }

  push(delta: string): { emit: string; stopped: boolean } {
    if (this.stoppedAt !== null) return { emit: '', stopped: true };
    this.full += delta;
    let hit = -1;
    for (const s of this.stops) {
      const i = s ? this.full.indexOf(s, Math.max(0, this.emitted - s.length)) : -1;
      if (i >= 0 && (hit < 0 || i < hit)) hit = i;
    }
    if (hit >= 0) {
      const emit = this.full.slice(this.emitted, hit);
      this.stoppedAt = hit;
      this.emitted = hit;
      return { emit, stopped: true };
    }
    const safe = this.full.length - this.heldBack();
    const emit = this.full.slice(this.emitted, Math.max(this.emitted, safe));
    this.emitted = Math.max(this.emitted, safe);
    return { emit, stopped: false };
  }

  /** Releases held-back text at the end of the stream. */
  finish(delta = ''): string {
    if (this.stoppedAt !== null) return '';
    this.full += delta;
    const emit = this.full.slice(this.emitted);
    this.emitted = this.full.length;
    return emit;
  }

  /** Length of the longest tail of the text that is a proper prefix of some stop string. */
  private heldBack(): number {
    let longest = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.full.length); k > longest; k--) {
        if (this.full.endsWith(s.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}
