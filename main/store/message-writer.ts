import { AnswerNotSavedError, MessageWriterClosedError, NotFoundError, StoreError } from './errors.js';
import { fromSqliteError } from './sqlite-errors.js';
import type { Store } from './store.js';
import { endsWithHighSurrogate } from './text.js';
import { inTransaction } from './typed-statements.js';
import type { FinalMessageState, Message, MessageState } from './types.js';

export interface MessageWriterOptions {
  /** Longest time appended text may stay only in memory, in ms (default 1000). */
  intervalMs?: number;
  /** Called after every commit with exactly the text now in the database (e.g. a "saved" indicator). */
  onCommit?: (commit: { messageId: number; text: string; tokenCount: number; state: MessageState }) => void;
}

/**
 * Persists an assistant reply while it streams, so a crash loses at most `intervalMs` of text.
 *
 * `append` only buffers; a commit happens on the first append after the interval has passed (this
 * covers a decode loop that never yields to the event loop) and from a timer (this covers a loop that
 * pauses, e.g. a slow token). Each commit writes the whole text so far, so what is on disk is always
 * a prefix of the final text; a trailing high surrogate waits for its low half, so a pair split
 * across deltas is never stored as U+FFFD.
 */
export class StreamingMessageWriter {
  private textSoFar: string;
  private tokens: number;
  private committedText: string;
  private committedTokens: number;
  private lastCommitAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private readonly intervalMs: number;

  /**
   * Starts a new, empty 'streaming' assistant message at the head of the session's active branch (or after
   * `parentId`: a new version of an answer) and writes to it.
   */
  static start(store: Store, sessionId: number, options: MessageWriterOptions & { parentId?: number | null } = {}): StreamingMessageWriter {
    checkInterval(options.intervalMs); // before the message exists, so a bad option leaves no trace
    const message = store.appendMessage(sessionId, { role: 'assistant', text: '', state: 'streaming', parentId: options.parentId });
    return new StreamingMessageWriter(store, message.id, options);
  }

  /** Continues an existing message (its stored text and token count are the starting point). */
  constructor(
    private readonly store: Store,
    readonly messageId: number,
    private readonly options: MessageWriterOptions = {},
  ) {
    const message = store.getMessage(messageId);
    if (!message) throw new NotFoundError('message', messageId);
    if (message.state !== 'streaming') throw new MessageWriterClosedError(messageId);
    this.textSoFar = this.committedText = message.text;
    this.tokens = this.committedTokens = message.tokenCount;
    this.intervalMs = checkInterval(options.intervalMs);
  }

  /** All text appended so far, committed or not. */
  get text(): string {
    return this.textSoFar;
  }

  get tokenCount(): number {
    return this.tokens;
  }

  /** Buffers a piece of the reply; commits when the last commit is older than the interval. */
  append(textDelta: string, tokenDelta = 0): void {
    if (this.finished) throw new MessageWriterClosedError(this.messageId);
    this.textSoFar += textDelta;
    this.tokens += tokenDelta;
    if (performance.now() - this.lastCommitAt >= this.intervalMs) this.flush();
    else this.schedule();
  }

  /** Commits the buffered text now (no-op when nothing changed). */
  flush(): void {
    if (this.finished) return;
    this.clearTimer();
    let text = this.textSoFar;
    if (endsWithHighSurrogate(text)) text = text.slice(0, -1);
    if (text === this.committedText && this.tokens === this.committedTokens) {
      this.lastCommitAt = performance.now();
      return;
    }
    this.commit(text, 'streaming');
  }

  /**
   * Commits the final text with its final state; the writer cannot be used afterwards. `alongside` writes what goes
   * with the answer's end (the session's token count) in the same transaction: one commit writes the pages both touch once.
   */
  finish(state: FinalMessageState = 'done', alongside?: () => void): Message {
    if (this.finished) throw new MessageWriterClosedError(this.messageId);
    this.clearTimer();
    const message = this.commit(this.textSoFar, state, alongside);
    this.finished = true;
    return message;
  }

  /**
   * A failed commit (disk full, file made read-only) stops the stream with a sentence that says how much of
   * what was shown is saved; SQLite rolled the failed write back whole, so the saved text is intact.
   */
  private commit(text: string, state: MessageState, alongside?: () => void): Message {
    let message: Message;
    try {
      message = inTransaction(this.store.db, () => {
        const m = state === 'streaming'
          ? this.store.streamMessageText(this.messageId, text, this.tokens)
          : this.store.updateMessageText(this.messageId, text, state, this.tokens);
        alongside?.();
        return m;
      });
    } catch (error) {
      const reason = fromSqliteError(error, this.store.db.name);
      if (!reason) throw error;
      throw new AnswerNotSavedError(reason, this.textSoFar.length, this.committedText.length);
    }
    this.committedText = text;
    this.committedTokens = this.tokens;
    this.lastCommitAt = performance.now();
    this.options.onCommit?.({ messageId: this.messageId, text: message.text, tokenCount: message.tokenCount, state });
    return message;
  }

  private schedule(): void {
    if (this.timer || this.finished) return;
    const due = Math.max(0, this.intervalMs - (performance.now() - this.lastCommitAt));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (error) {
        // No caller to throw to here. The text stays buffered and the next append (already past the
        // interval) retries the commit synchronously, so a persistent failure reaches the caller there.
        if (!(error instanceof StoreError)) this.schedule();
      }
    }, due);
    // A stream in progress keeps its own process alive; the writer alone must not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function checkInterval(intervalMs = 1000): number {
  if (!(intervalMs > 0 && Number.isFinite(intervalMs))) {
    throw new RangeError(`The flush interval must be a positive number of milliseconds, got ${intervalMs}.`);
  }
  return intervalMs;
}
