import type { MessageStats } from '../api/schemas.js';

/**
 * Measures one answer as it streams: time to first token from the moment the request was accepted (reading the
 * prompt included), and decode speed from the end of reading. Read at any time for the live figure; `end` takes
 * the engine's own measure of the decode, the one the CLI prints.
 */
export class AnswerSpeed {
  private readonly startedAt = performance.now();
  private decodeFrom = this.startedAt;
  private firstTokenAt: number | null = null;
  private tokens = 0;
  private final: MessageStats | null = null;

  /** Part of the prompt was read: decoding starts after the last piece. */
  read(): void {
    if (this.firstTokenAt === null) this.decodeFrom = performance.now();
  }

  token(): void {
    this.firstTokenAt ??= performance.now();
    this.tokens++;
  }

  end(tokens: number, tokensPerSecond: number): void {
    this.final = { ...this.now(), tokens, tokensPerSecond };
  }

  /** The figures so far (final once the answer ended). */
  now(): MessageStats {
    if (this.final) return this.final;
    const at = performance.now();
    const seconds = (at - this.decodeFrom) / 1000;
    return {
      ttftMs: (this.firstTokenAt ?? at) - this.startedAt,
      tokensPerSecond: this.tokens > 0 && seconds > 0 ? this.tokens / seconds : 0,
      tokens: this.tokens,
    };
  }

  /** A token came (or the answer ended): there is something to show. */
  get measured(): boolean {
    return this.firstTokenAt !== null || this.final !== null;
  }
}
