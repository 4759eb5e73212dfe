import type { ChatMessage } from '../engine/chat-template.js';
import type { Engine, GenerateOptions, GenerationEvent } from '../engine/engine.js';

/** Texts longer than this are tokenized piece by piece while they are fed. */
const LONG_TEXT_CHARS = 65_536;

export type ChatEvent = GenerationEvent | { type: 'prefill'; done: number; total: number };

export interface SendOptions extends GenerateOptions {
  /** tokens per prefill run (a book-sized paste streams through the cache in chunks) */
  chunk?: number;
}

/**
 * A conversation over one engine. In chat mode each turn is rendered with the model's chat template and only
 * the text the cache has not consumed yet is fed; in raw mode (plain language models, `perpetua generate`)
 * turns are concatenated text. `consumed` is the rendered conversation the cache holds, so templates that
 * render earlier turns differently never make the session feed text twice.
 */
export class ChatSession {
  readonly messages: ChatMessage[] = [];
  private consumed = '';
  private fedTokens = 0;
  readonly raw: boolean;
  /** text is continued as it is (`perpetua generate`), rather than chatted with */
  readonly continuation: boolean;
  /** ends each user (and system) turn in raw chat, so the model answers on a new line instead of finishing the last word */
  private readonly turnEnd: string;

  constructor(
    readonly engine: Engine,
    private readonly systemPrompt: string | null = null,
    opts: { raw?: boolean } = {},
  ) {
    this.raw = opts.raw === true || !engine.model.template.hasTemplate;
    // plain continuation (`perpetua generate`) joins text as it is; a chat with a template-less model breaks the line
    this.continuation = opts.raw === true;
    this.turnEnd = this.continuation || engine.model.template.hasTemplate ? '' : '\n';
  }

  /** The rendered conversation the cache has consumed (what teacher-forced perplexity scores). */
  get consumedText(): string {
    return this.consumed;
  }

  /** A copy of this conversation over another engine (an A/B branch whose cache was forked from this one). */
  fork(engine: Engine): ChatSession {
    const copy = new ChatSession(engine, this.systemPrompt, { raw: this.continuation });
    copy.messages.push(...this.messages.map((m) => ({ ...m })));
    copy.consumed = this.consumed;
    copy.fedTokens = this.fedTokens;
    return copy;
  }

  /** Feeds the user's turn, then streams the answer. */
  async *send(userText: string, opts: SendOptions): AsyncGenerator<ChatEvent> {
    yield* this.prepare(opts);
    const firstTurn = this.fedTokens === 0;
    yield* this.feedTurn({ role: 'user', content: userText }, opts);
    if (firstTurn) this.engine.policy.pinPrefix(this.engine.policy.totalTokensSeen);
    yield* this.answer(opts);
  }

  /** Streams more of the answer without a new user turn (raw continuation). */
  async *continue(opts: SendOptions): AsyncGenerator<ChatEvent> {
    yield* this.prepare(opts);
    yield* this.answer(opts);
  }

  /**
   * Brings a fresh or snapshot-restored cache up to date with a stored transcript: `covered` messages are
   * already in the restored cache, the rest are fed now (the session is rebuilt by re-prefilling them).
   * `coveredChars`: the cache holds only that many characters of the last covered message (an answer's checkpoint).
   */
  async *resume(transcript: ChatMessage[], covered: number, opts: SendOptions, coveredChars?: number): AsyncGenerator<ChatEvent> {
    const system: ChatMessage[] = this.systemPrompt ? [{ role: 'system', content: this.systemPrompt }] : [];
    const all = [...system, ...transcript];
    const start = covered > 0 ? covered + system.length : 0;
    this.messages.splice(0, this.messages.length, ...all.slice(0, start));
    // a checkpoint taken mid-answer holds the first `coveredChars` of its answer: the rest of it is read first
    const partial = start > 0 && coveredChars !== undefined && all[start - 1].role === 'assistant' ? all[start - 1] : null;
    if (partial) this.messages[start - 1] = { ...partial, content: partial.content.slice(0, coveredChars) };
    this.consumed = this.render(this.messages);
    if (partial) this.messages[start - 1] = partial;
    this.fedTokens = this.engine.policy.totalTokensSeen;
    let i = start;
    // the first turn (the system prompt when there is one) is fed alone: it becomes the pinned sink region
    const first = i === 0 && all.length > 0 ? this.turnText(all[0]) : null;
    if (first !== null) {
      this.pushMessage(all[0]);
      this.consumed += first;
      i = 1;
    }
    // the rest is fed as one text, in full-size chunks, however many messages it spans
    let text = partial ? partial.content.slice(coveredChars) : '';
    this.consumed += text;
    for (; i < all.length; i++) {
      const piece = all[i].role === 'assistant' ? all[i].content : this.turnText(all[i]);
      this.pushMessage(all[i]);
      this.consumed += piece;
      text += piece;
    }
    // progress is over the whole re-read: while the first turn is fed, the rest is estimated from its characters
    let firstTokens = 0;
    if (first !== null) {
      const scale = (first.length + text.length) / Math.max(1, first.length);
      for await (const ev of this.feedLongText(first, opts)) {
        firstTokens = ev.type === 'prefill' ? ev.done : firstTokens;
        if (ev.type === 'prefill') yield { type: 'prefill', done: ev.done, total: Math.max(ev.done, Math.round(ev.total * scale)) };
      }
      this.engine.policy.pinPrefix(this.engine.policy.totalTokensSeen);
    }
    for await (const ev of this.feedLongText(text, opts)) {
      if (ev.type === 'prefill') yield { type: 'prefill', done: firstTokens + ev.done, total: firstTokens + ev.total };
    }
  }

  /**
   * Raw streams start with the tokenizer's BOS (rendered templates carry their own), and every stream with the
   * model's sink token when it was trained with one.
   */
  private encode(text: string): number[] {
    const start = this.fedTokens === 0;
    const tokens = this.engine.model.tokenizer.encode(text, this.raw && start);
    return start ? [...this.engine.model.streamPrefix, ...tokens] : tokens;
  }

  /** What the cache holds for `messages` in this session's format (an assistant answer ends a turn). */
  private render(messages: ChatMessage[]): string {
    if (messages.length === 0) return '';
    if (this.raw) return messages.map((m) => this.rawTurn(m)).join('');
    const last = messages[messages.length - 1];
    const { template } = this.engine.model;
    if (last.role === 'assistant') return template.render(messages.slice(0, -1), true) + last.content;
    return template.render(messages, last.role === 'user');
  }

  private async *prepare(opts: SendOptions): AsyncGenerator<ChatEvent> {
    if (this.fedTokens === 0 && this.systemPrompt && this.messages.length === 0) {
      // The system prompt is fed on its own so "pin the system prompt" makes exactly it the sink region.
      yield* this.feedTurn({ role: 'system', content: this.systemPrompt }, opts);
      this.engine.policy.pinPrefix(this.engine.policy.totalTokensSeen);
    }
  }

  private async *answer(opts: SendOptions): AsyncGenerator<ChatEvent> {
    let answer = '';
    for await (const ev of this.engine.generate(opts)) {
      if (ev.type === 'done') answer = ev.text;
      yield ev;
    }
    const last = this.messages[this.messages.length - 1];
    if (last?.role === 'assistant') last.content += answer;
    else this.messages.push({ role: 'assistant', content: answer });
    this.consumed += answer;
  }

  private async *feedTurn(message: ChatMessage, opts: SendOptions): AsyncGenerator<ChatEvent> {
    yield* this.feedText(this.turnText(message), opts, message);
  }

  /**
   * The text a turn adds: the difference between rendering the last exchange with and without it, so a turn
   * costs the same however long the conversation is. A template that rewrites earlier turns cannot be diffed:
   * then the new turn is rendered on its own.
   */
  private turnText(message: ChatMessage): string {
    if (this.raw) return this.rawTurn(message);
    const context = this.lastExchange();
    const before = this.render(context);
    const after = this.render([...context, message]);
    return after.startsWith(before) ? after.slice(before.length) : this.render([message]);
  }

  /** The system prompt (templates treat the first message specially) and the messages since the last user turn. */
  private lastExchange(): ChatMessage[] {
    const system = this.messages[0]?.role === 'system' ? [this.messages[0]] : [];
    let start = this.messages.length - 1;
    while (start >= system.length && this.messages[start].role !== 'user') start--;
    return [...system, ...this.messages.slice(Math.max(start, system.length))];
  }

  private async *feedText(text: string, opts: SendOptions, message: ChatMessage): AsyncGenerator<ChatEvent> {
    this.pushMessage(message);
    this.consumed += text;
    yield* this.feedLongText(text, opts);
  }

  /**
   * A long text (a pasted book) is tokenized a piece at a time as it is fed, so memory stays bounded and
   * progress starts at once; `total` is estimated from the tokens per character so far, and exact at the end.
   */
  private async *feedLongText(text: string, opts: SendOptions): AsyncGenerator<ChatEvent> {
    if (text.length <= LONG_TEXT_CHARS) {
      yield* this.feedTokens(this.encode(text), opts);
      return;
    }
    const prefix = this.fedTokens === 0 ? this.engine.model.streamPrefix : [];
    let done = 0;
    let read = 0;
    for (const piece of this.engine.model.tokenizer.encodePieces(text, this.raw && this.fedTokens === 0)) {
      const tokens = done === 0 ? [...prefix, ...piece.ids] : piece.ids;
      read += piece.chars;
      // exact once the last piece is tokenized
      const total = Math.round(((done + tokens.length) * text.length) / read);
      for await (const ev of this.feedTokens(tokens, opts)) {
        if (ev.type === 'prefill') yield { type: 'prefill', done: done + ev.done, total: Math.max(total, done + ev.done) };
      }
      done += tokens.length;
    }
  }

  private pushMessage(message: ChatMessage): void {
    const last = this.messages[this.messages.length - 1];
    if (message.role === 'assistant' && last?.role === 'assistant') last.content += message.content;
    else this.messages.push({ ...message });
  }

  /** Fed piece by piece so progress reaches the user while a book-sized paste streams through the cache. */
  private async *feedTokens(tokens: number[], opts: SendOptions): AsyncGenerator<ChatEvent> {
    const piece = Math.max(1, opts.chunk ?? 256);
    for (let done = 0; done < tokens.length; done += piece) {
      const part = tokens.slice(done, done + piece);
      await this.engine.feed(part, { chunk: piece, signal: opts.signal });
      this.fedTokens += part.length;
      yield { type: 'prefill', done: done + part.length, total: tokens.length };
    }
  }

  private rawTurn(m: ChatMessage): string {
    return m.role === 'assistant' ? m.content : m.content + this.turnEnd;
  }
}
