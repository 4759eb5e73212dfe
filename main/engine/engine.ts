import type { CachePolicy } from './cache-policy.js';
import type { Model } from './model.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { StreamingDetokenizer } from './text-tokenizer.js';
import { StopStringMatcher } from './stop-strings.js';

export interface FeedOptions {
  /** tokens per run; chunks never cross an eviction, so chunked and token-by-token runs see the same cache */
  chunk?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** receives the logits rows [n, vocab] of each fed slice (dense, window, sink: exact per token) */
  onLogits?: (logits: Float32Array, tokens: number[]) => void;
}

export interface GenerateOptions {
  maxTokens: number;
  sampling?: SamplingOptions;
  stop?: string[];
  signal?: AbortSignal;
  /** keep going past end-of-sequence tokens (long-stream tests and benchmarks) */
  ignoreEos?: boolean;
}

/** context: a dense cache is full (the model's context); the answer stops there. */
export type StopReason = 'eos' | 'stop' | 'length' | 'cancelled' | 'context';

export type GenerationEvent =
  | { type: 'token'; id: number; text: string }
  | { type: 'done'; reason: StopReason; text: string; tokens: number[]; decodeMs: number; tokensPerSecond: number };

/**
 * The decode loop: feeds tokens through the model under a cache policy and samples new ones. It only asks the
 * policy for room, a plan and a commit, so it runs every policy the same way.
 */
export class Engine {
  private lastLogits: Float32Array | null = null;
  /** the last few fed tokens: text of new tokens is decoded after them, as a continuation */
  private recent: number[] = [];

  constructor(readonly model: Model, public policy: CachePolicy) {}

  /** Logits after the last fed token (null before anything was fed). */
  get logits(): Float32Array | null {
    return this.lastLogits;
  }

  /** Feeds tokens (a prompt, a pasted book, a sampled token) in chunks; returns the last token's logits. */
  async feed(tokens: number[], opts: FeedOptions = {}): Promise<Float32Array> {
    const V = this.model.vocabSize;
    const chunk = Math.max(1, opts.chunk ?? 256);
    let done = 0;
    while (done < tokens.length) {
      opts.signal?.throwIfAborted();
      const n = Math.min(tokens.length - done, chunk, Math.max(1, this.policy.room()));
      const slice = tokens.slice(done, done + n);
      const plan = await this.policy.plan(slice);
      // graphs that can return fewer logits rows are asked for the last one only, unless every row is wanted
      const allLogits = opts.onLogits !== undefined;
      const { logits, present } = await this.model.forward(plan.ids, plan.positions, plan.past, { allLogits });
      this.policy.commit(present, slice);
      const rows = logits.length / V;
      this.lastLogits = logits.subarray((rows - 1) * V, rows * V);
      opts.onLogits?.(logits.subarray((rows - n) * V, rows * V), slice);
      done += n;
      this.recent = [...this.recent, ...slice].slice(-8);
      opts.onProgress?.(done, tokens.length);
    }
    if (!this.lastLogits) throw new RangeError('Nothing to feed: the token list is empty.');
    return this.lastLogits;
  }

  /**
   * Samples up to `maxTokens` tokens after what was fed, streaming text deltas. Every sampled token but a
   * final EOS is fed back, so the cache always holds the whole visible conversation.
   */
  async *generate(opts: GenerateOptions): AsyncGenerator<GenerationEvent> {
    if (!this.lastLogits) throw new RangeError('Feed a prompt before generating.');
    const sampler = new Sampler(opts.sampling);
    const detok = new StreamingDetokenizer(this.model.tokenizer, this.recent);
    // Small models sometimes spell their end-of-text marker out as plain text: that ends the answer too.
    const eosText = this.model.tokenizer.eosToken;
    const stops = new StopStringMatcher([...(opts.stop ?? []), ...(eosText && !opts.ignoreEos ? [eosText] : [])]);
    const eos = this.model.eosIds;
    const tokens: number[] = [];
    const started = performance.now();
    let reason: StopReason = 'length';
    let logits = this.lastLogits;
    while (tokens.length < opts.maxTokens) {
      if (opts.signal?.aborted) {
        reason = 'cancelled';
        break;
      }
      // the sampled token must fit the cache: every emitted token is fed back
      if (this.policy.room() < 1) {
        reason = 'context';
        break;
      }
      const id = sampler.sample(logits, tokens);
      if (eos.has(id) && !opts.ignoreEos) {
        reason = 'eos';
        break;
      }
      tokens.push(id);
      const { emit, stopped } = stops.push(detok.push(id));
      if (emit) yield { type: 'token', id, text: emit };
      logits = await this.feed([id]);
      if (stopped) {
        reason = 'stop';
        break;
      }
    }
    const tail = stops.finish(detok.flush());
    if (tail) yield { type: 'token', id: -1, text: tail };
    const decodeMs = performance.now() - started;
    yield {
      type: 'done',
      reason,
      text: stops.text,
      tokens,
      decodeMs,
      tokensPerSecond: tokens.length / Math.max(decodeMs / 1000, 1e-9),
    };
  }
}
