import { createInterface, type Interface } from 'node:readline';

/** Lines arriving closer together than this are one paste (a terminal without bracketed paste, a pipe). */
const PASTE_GAP_MS = 40;
/** A line holding only this opens and closes an explicitly multi-line message. */
export const BLOCK_FENCE = '"""';
const BRACKETED_PASTE_ON = '\x1b[?2004h';
const BRACKETED_PASTE_OFF = '\x1b[?2004l';

/**
 * What the user types or pastes, one message at a time. Lines are read as they arrive, also while an answer
 * streams, so nothing is lost: a paste (bracketed by the terminal, or lines arriving together) is one message,
 * `"""` … `"""` is one message typed over several lines, and anything else is one message per line.
 * Ctrl-C goes to `onInterrupt`; when it returns false (nothing to stop) the input ends, like Ctrl-D.
 */
export class ChatInput {
  private readonly rl: Interface;
  private readonly messages: string[] = [];
  private waiting: ((text: string | null) => void) | null = null;
  private burst: string[] = [];
  private block: string[] | null = null;
  private burstTimer: NodeJS.Timeout | undefined;
  private pasting = false;
  private ended = false;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
    private readonly onInterrupt: () => boolean,
  ) {
    const terminal = input.isTTY === true;
    this.rl = createInterface({ input, output, terminal, prompt: '> ' });
    this.rl.on('line', (line) => this.line(line));
    this.rl.on('close', () => this.end());
    this.rl.on('SIGINT', () => this.interrupt());
    process.on('SIGINT', this.interrupt);
    if (terminal) {
      output.write(BRACKETED_PASTE_ON);
      input.on('keypress', this.keypress);
    }
  }

  /** The next message, or null when the input has ended (Ctrl-D, end of a pipe, Ctrl-C at the prompt). */
  next(): Promise<string | null> {
    const queued = this.messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    this.rl.prompt();
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    process.off('SIGINT', this.interrupt);
    this.input.off('keypress', this.keypress);
    if (this.input.isTTY) this.output.write(BRACKETED_PASTE_OFF);
    this.rl.close();
    // a pipe left open by the other side would keep the process alive after the chat ends
    this.input.destroy();
  }

  private readonly interrupt = (): void => {
    if (this.onInterrupt()) return;
    this.rl.close();
  };

  private readonly keypress = (_: unknown, key: { name?: string } | undefined): void => {
    if (key?.name === 'paste-start') this.pasting = true;
    if (key?.name === 'paste-end') {
      this.pasting = false;
      this.scheduleBurstEnd();
    }
  };

  private line(line: string): void {
    if (line.trim() === BLOCK_FENCE) {
      if (this.block) {
        this.emit(this.block.join('\n'));
        this.block = null;
      } else {
        this.endBurst();
        this.block = [];
      }
      return;
    }
    if (this.block) {
      this.block.push(line);
      return;
    }
    this.burst.push(line);
    this.scheduleBurstEnd();
  }

  private scheduleBurstEnd(): void {
    clearTimeout(this.burstTimer);
    this.burstTimer = setTimeout(() => {
      if (!this.pasting) this.endBurst();
    }, PASTE_GAP_MS);
  }

  private endBurst(): void {
    clearTimeout(this.burstTimer);
    const text = this.burst.join('\n');
    this.burst = [];
    this.emit(text);
  }

  /** Blank messages are skipped; leading and trailing blank lines are not part of a message. */
  private emit(text: string): void {
    const trimmed = text.replace(/^(?:[ \t]*\n)+|(?:\n[ \t]*)+$/g, '');
    if (!trimmed.trim()) {
      if (this.waiting && !this.ended) this.rl.prompt();
      return;
    }
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(trimmed);
    } else this.messages.push(trimmed);
  }

  /** End of input: what is buffered (an unfinished paste or block) is still sent, then null. */
  private end(): void {
    if (this.ended) return;
    this.endBurst();
    if (this.block) this.emit(this.block.join('\n'));
    this.block = null;
    this.ended = true;
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.(null);
  }
}
