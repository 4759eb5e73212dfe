import type { ChatMessage } from '../engine/chat-template.js';
import type { Engine, GenerateOptions, GenerationEvent } from '../engine/engine.js';

export type ChatEvent = GenerationEvent | { type: 'prefill'; done: number; total: number };

export interface SendOptions extends GenerateOptions {
  /** tokens per prefill run (a book-sized paste streams through the cache in chunks) */
  chunk?: number;
}

/**
 * A conversation over one engine: renders each new turn with the model's chat template, feeds only what the
 * cache has not seen, and streams the answer. `fedText` is the rendered conversation the cache has consumed,
 * so a template that renders earlier turns differently (or a switched policy) never duplicates text.
 */
export class ChatSession {
  readonly messages: ChatMessage[] = [];
  private fedText = '';
  private fedTokens = 0;

  constructor(readonly engine: Engine, private readonly systemPrompt: string | null = null) {}

  /** Streams the answer to `userText`; the caller appends nothing — the session keeps its transcript. */
  async *send(userText: string, opts: SendOptions): AsyncGenerator<ChatEvent> {
    if (this.messages.length === 0 && this.systemPrompt) {
      // The system prompt is fed on its own so "pin the system prompt" can make exactly it the sink region.
      yield* this.feedTurn([{ role: 'system', content: this.systemPrompt }], false, opts);
      this.engine.policy.pinPrefix(this.engine.policy.totalTokensSeen);
    }
    const user: ChatMessage = { role: 'user', content: userText };
    const firstTurn = this.fedTokens === 0;
    yield* this.feedTurn([user], true, opts);
    if (firstTurn) this.engine.policy.pinPrefix(this.engine.policy.totalTokensSeen);

    let answer = '';
    for await (const ev of this.engine.generate(opts)) {
      if (ev.type === 'done') answer = ev.text;
      yield ev;
    }
    this.messages.push({ role: 'assistant', content: answer });
    this.fedText += answer;
  }

  /** Restores the transcript of a resumed session whose cache was restored from a snapshot. */
  resumeFrom(messages: ChatMessage[], fedText: string, fedTokens: number): void {
    this.messages.splice(0, this.messages.length, ...messages);
    this.fedText = fedText;
    this.fedTokens = fedTokens;
  }

  /** The rendered conversation the cache has consumed (persisted with snapshots). */
  get consumedText(): string {
    return this.fedText;
  }

  private async *feedTurn(turn: ChatMessage[], addGenerationPrompt: boolean, opts: SendOptions): AsyncGenerator<ChatEvent> {
    const { template, tokenizer } = this.engine.model;
    const all = [...this.messages.filter((m) => m.role !== 'system'), ...turn];
    const withSystem = this.systemPrompt ? [{ role: 'system' as const, content: this.systemPrompt }, ...all] : all;
    let text: string;
    let tokens: number[];
    if (template.hasTemplate) {
      const rendered = template.render(turn[0].role === 'system' ? turn : withSystem, addGenerationPrompt);
      text = rendered.startsWith(this.fedText) ? rendered.slice(this.fedText.length) : template.render(turn, addGenerationPrompt);
      this.fedText = rendered.startsWith(this.fedText) ? rendered : this.fedText + text;
      tokens = tokenizer.encode(text, false);
    } else {
      // Plain language models continue raw text; the tokenizer's BOS starts the stream.
      text = turn[0].content;
      tokens = tokenizer.encode(text, this.fedTokens === 0);
      this.fedText += text;
    }
    this.messages.push(...turn);
    // Feed piece by piece so progress reaches the user while a book-sized paste streams through the cache.
    const piece = Math.max(1, opts.chunk ?? 256);
    for (let done = 0; done < tokens.length; done += piece) {
      const part = tokens.slice(done, done + piece);
      await this.engine.feed(part, { chunk: piece, signal: opts.signal });
      this.fedTokens += part.length;
      yield { type: 'prefill', done: done + part.length, total: tokens.length };
    }
  }
}
