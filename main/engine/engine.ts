import type { CachePolicy } from './cache-policy.js';
import type { Model } from './model.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { StreamingDetokenizer } from './text-tokenizer.js';
import { StopStringMatcher } from './stop-strings.js';
import { PromptLookup, type LookupOptions } from './prompt-lookup.js';

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
  /** prompt-lookup drafting for this answer (default: the engine's, on) */
  lookup?: boolean;
  /** after each model run: the tokens it drafted and how many of them were kept (0, 0 for a plain step) */
  onRun?: (drafted: number, accepted: number) => void;
}

export interface EngineOptions {
  /**
   * Prompt-lookup speculative decoding (default on): n-gram drafts from the chat's own text, verified in one run.
   * The output is the plain decode's, token for token; where the cache cannot take tokens back (KV on a device),
   * nothing is drafted.
   */
  lookup?: LookupOptions | false;
}

/** What lookup decoding did in one answer. */
export interface LookupStats {
  /** runs that verified a draft */
  runs: number;
  drafted: number;
  accepted: number;
}

/** context: a dense cache is full (the model's context); the answer stops there. */
export type StopReason = 'eos' | 'stop' | 'length' | 'cancelled' | 'context';

export type GenerationEvent =
  /** `generated`: tokens of the answer so far, this text's included (held text, e.g. half a character, comes later) */
  | { type: 'token'; id: number; text: string; generated: number }
  | { type: 'done'; reason: StopReason; text: string; tokens: number[]; decodeMs: number; tokensPerSecond: number; lookup: LookupStats };

/**
 * The decode loop: feeds tokens through the model under a cache policy and samples new ones. It only asks the
 * policy for room, a plan and a commit, so it runs every policy the same way.
 */
export class Engine {
  private lastLogits: Float32Array | null = null;
  /** the last few fed tokens: text of new tokens is decoded after them, as a continuation */
  private recent: number[] = [];
  private readonly lookup: PromptLookup | null;
  /** the lookup history holds what the cache held before the first feed (a restored session) */
  private lookupSeeded = false;

  constructor(readonly model: Model, public policy: CachePolicy, opts: EngineOptions = {}) {
    this.lookup = opts.lookup === false ? null : new PromptLookup(opts.lookup);
  }

  /** A restored cache's tokens start the lookup history, so an answer can quote what came before the restore. */
  private seedLookup(): void {
    if (this.lookupSeeded || !this.lookup) return;
    this.lookupSeeded = true;
    if (this.policy.totalTokensSeen === 0) return;
    const c = this.policy.contents();
    this.lookup.push(c.tokens.length ? c.tokens : c.history);
  }

  /** Logits after the last fed token (null before anything was fed). */
  get logits(): Float32Array | null {
    return this.lastLogits;
  }

  /** Feeds tokens (a prompt, a pasted book, a sampled token) in chunks; returns the last token's logits. */
  async feed(tokens: number[], opts: FeedOptions = {}): Promise<Float32Array> {
    const V = this.model.vocabSize;
    const chunk = Math.max(1, opts.chunk ?? 256);
    this.seedLookup();
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
      this.lookup?.push(slice);
      opts.onProgress?.(done, tokens.length);
    }
    if (!this.lastLogits) throw new RangeError('Nothing to feed: the token list is empty.');
    return this.lastLogits;
  }

  /**
   * One run of `tokens` whose logits rows all come back and which the cache keeps until told otherwise
   * (`policy.rollback`): a lookup verify run. The caller keeps `tokens.length <= policy.draftRoom()`.
   */
  private async verify(tokens: number[]): Promise<Float32Array> {
    const V = this.model.vocabSize;
    const plan = await this.policy.plan(tokens);
    const { logits, present } = await this.model.forward(plan.ids, plan.positions, plan.past, { allLogits: true });
    this.policy.commit(present, tokens);
    return logits.subarray(logits.length - tokens.length * V);
  }

  /**
   * Samples up to `maxTokens` tokens after what was fed, streaming text deltas. Every sampled token but a
   * final EOS is fed back, so the cache always holds the whole visible conversation.
   * With lookup decoding a sampled token goes in one run with the draft that followed the same n-gram earlier in
   * the chat; each drafted token is kept while the sampler, given that run's logits row, picks it. A row of the run is
   * the distribution a plain step would sample from, and the sampler draws one number per token as it would there,
   * so a mismatch's own pick is the next token: this is speculative sampling with a one-token-certain draft (accept
   * d with probability p(d), else draw from p without d), exact for greedy and sampled decoding alike, and with a
   * seed the same tokens as plain decoding. Rejected tokens' KV is taken back (`policy.rollback`).
   */
  async *generate(opts: GenerateOptions): AsyncGenerator<GenerationEvent> {
    if (!this.lastLogits) throw new RangeError('Feed a prompt before generating.');
    this.seedLookup();
    const sampler = new Sampler(opts.sampling);
    const detok = new StreamingDetokenizer(this.model.tokenizer, this.recent);
    // Small models sometimes spell their end-of-text marker out as plain text: that ends the answer too.
    const eosText = this.model.tokenizer.eosToken;
    const stops = new StopStringMatcher([...(opts.stop ?? []), ...(eosText && !opts.ignoreEos ? [eosText] : [])]);
    const eos = this.model.eosIds;
    const lookup = opts.lookup === false ? null : this.lookup;
    const stats: LookupStats = { runs: 0, drafted: 0, accepted: 0 };
    const V = this.model.vocabSize;
    const tokens: number[] = [];
    const started = performance.now();
    let reason: StopReason = 'length';
    let logits = this.lastLogits;
    /** the next token, already drawn from a verify run's row where a draft was cut short */
    let pending: number | null = null;
    generation: while (tokens.length < opts.maxTokens) {
      if (opts.signal?.aborted) {
        reason = 'cancelled';
        break;
      }
      // the sampled token must fit the cache: every emitted token is fed back
      if (this.policy.room() < 1) {
        reason = 'context';
        break;
      }
      const id = pending ?? sampler.sample(logits, tokens);
      pending = null;
      if (eos.has(id) && !opts.ignoreEos) {
        reason = 'eos';
        break;
      }
      tokens.push(id);
      const { emit, stopped } = stops.push(detok.push(id));
      if (emit) yield { type: 'token', id, text: emit, generated: tokens.length };
      const limit = stopped ? 0 : Math.min(opts.maxTokens - tokens.length, this.policy.draftRoom() - 1);
      let draft: number[] = [];
      if (lookup && limit > 0) {
        lookup.push([id]);
        draft = lookup.draft(limit);
        lookup.pop(1);
      }
      if (draft.length === 0) {
        const t0 = performance.now();
        logits = await this.feed([id]);
        lookup?.observeRun(1, performance.now() - t0);
        opts.onRun?.(0, 0);
        if (stopped) {
          reason = 'stop';
          break;
        }
        continue;
      }
      const t0 = performance.now();
      const rows = await this.verify([id, ...draft]);
      lookup!.observeRun(1 + draft.length, performance.now() - t0);
      lookup!.push([id]);
      stats.runs++;
      stats.drafted += draft.length;
      let kept = 0;
      let end: StopReason | null = null;
      // the accepted tokens stream once the rejected ones are taken back: a listener that reads the cache at a
      // token (a checkpoint) never sees a draft
      const events: GenerationEvent[] = [];
      for (let j = 0; j < draft.length; j++) {
        const x = sampler.sample(rows.subarray(j * V, (j + 1) * V), tokens);
        if (x !== draft[j]) {
          pending = x;
          break;
        }
        // an accepted EOS ends the answer unfed, as in plain decoding
        if (eos.has(x) && !opts.ignoreEos) {
          end = 'eos';
          break;
        }
        kept++;
        tokens.push(x);
        lookup!.push([x]);
        const step = stops.push(detok.push(x));
        if (step.emit) events.push({ type: 'token', id: x, text: step.emit, generated: tokens.length });
        if (step.stopped) {
          end = 'stop';
          break;
        }
      }
      this.policy.rollback(draft.length - kept);
      lookup!.feedback(draft.length, kept);
      stats.accepted += kept;
      opts.onRun?.(draft.length, kept);
      logits = this.lastLogits = rows.subarray(kept * V, (kept + 1) * V);
      this.recent = [...this.recent, id, ...draft.slice(0, kept)].slice(-8);
      yield* events;
      if (end) {
        reason = end;
        break generation;
      }
    }
    const tail = stops.finish(detok.flush());
    if (tail) yield { type: 'token', id: -1, text: tail, generated: tokens.length };
    const decodeMs = performance.now() - started;
    yield {
      type: 'done',
      reason,
      text: stops.text,
      tokens,
      decodeMs,
      tokensPerSecond: tokens.length / Math.max(decodeMs / 1000, 1e-9),
      lookup: stats,
    };
  }
}
