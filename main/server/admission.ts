/**
 * How many completions run at once: up to `parallel` side by side (each on its own chat; one chat answers one request
 * at a time, the core refuses a second with `busy`), then up to `queued` wait their turn in order; beyond that a
 * request is refused at once (429) rather than left hanging.
 */
import { OpenAiError } from './openai-error.js';

export class Admission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly parallel: number,
    readonly queued: number,
  ) {}

  get active(): number {
    return this.running;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once the request may run; `signal` (the client left) takes it out of the line. */
  async enter(signal: AbortSignal): Promise<() => void> {
    if (this.running < this.parallel) {
      this.running++;
      return this.release();
    }
    if (this.waiting.length >= this.queued) {
      throw new OpenAiError(429, `The server is busy: ${this.running} answers are being written and ${this.waiting.length} requests wait. Try again shortly.`, 'rate_limit_error', 'too_many_requests');
    }
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        const at = this.waiting.indexOf(turn);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new OpenAiError(499, 'The client went away.', 'invalid_request_error', 'cancelled'));
      };
      this.waiting.push(turn);
      signal.addEventListener('abort', leave, { once: true });
    });
    return this.release(); // the slot was handed over: `running` already counts it
  }

  /** Gives the slot to the next in line, or frees it. */
  private release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }
}
