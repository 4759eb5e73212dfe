import type { ChatPacket, PolicyPacket } from '../api/packets.js';
import type { CachePolicy } from '../engine/cache-policy.js';
import type { SinkReport, Stats } from '../api/schemas.js';
import { DEFAULT_FIRST_TOKENS, inspectSinks, inspectTokens } from '../eval/sink-inspector.js';
import type { SamplingOptions } from '../engine/sampler.js';
import type { GenerationSettings } from '../api/generation-schemas.js';
import { contextFullSentence, toConfig, type PolicySpec } from '../policy/policy.js';
import { describePolicy } from '../policy/policy-text.js';
import { emitting } from '../shared/emitting.js';
import { ProgressTicker } from '../shared/progress-ticker.js';
import { TransferRate } from '../shared/transfer-rate.js';
import { errorCode, PerpetuaError } from '../shared/errors.js';
import { toApiMessage, toStats } from './api-mappers.js';
import { AnswerSpeed } from './answer-speed.js';
import { answerSettings, storedGeneration, type AnswerSettings } from './generation-settings.js';
import { sessionCacheView, StreamTokenCounter, type StreamingTurn } from './cache-view.js';
import type { SendOptions } from './chat-session.js';
import type { PersistentChat, SessionEvent } from './persistent-chat.js';
import type { MessageRemoval } from '../store/message-removal.js';

/**
 * idle: ready for the next request. reading: the cache takes in text (a prompt, a transcript re-read after a
 * policy switch, an A/B branch's fork). answering: tokens are generated. stopping: asked to stop, winding down.
 */
export type RunnerState = 'idle' | 'reading' | 'answering' | 'stopping';

/** What answers use where the chat sets nothing (its settings: sessions.generation). */
export interface AnswerDefaults {
  maxTokens: number;
  /** tokens per prefill run */
  chunk: number;
  /** the model's recommended sampling (generation_config.json) */
  sampling: SamplingOptions;
}

/** One job on the session: it may move the runner between reading and answering, and sees the stop signal. */
export interface Job {
  readonly signal: AbortSignal;
  enter(state: 'reading' | 'answering'): void;
}

interface Current {
  state: RunnerState;
  abort: AbortController;
  /** what the job is doing, for the sentence that refuses the next request */
  what: string;
}

/**
 * Runs one open session: exactly one job at a time (an answer, a policy switch, an A/B run, a vote that
 * continues from a branch), refusing overlapping requests with `busy`. Jobs and the final disposal run on one
 * queue, so the session is never closed under a running answer; whatever a job replaces it disposes.
 */
export class SessionRunner {
  private current: Current | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** decode speed of the last answer */
  tokensPerSecond = 0;
  /** the answer in flight: what its prompt fed and its answer generated so far (for the cache view) */
  private streaming: StreamingTurn | undefined;
  private counter: StreamTokenCounter | undefined;
  /** how fast the answer in flight comes */
  private speed: AnswerSpeed | undefined;

  constructor(
    readonly chat: PersistentChat,
    private readonly defaults: AnswerDefaults,
  ) {}

  get state(): RunnerState {
    return this.current?.state ?? 'idle';
  }

  get sessionId(): number {
    return this.chat.session.id;
  }

  stats(): Stats {
    this.counter ??= new StreamTokenCounter(this.chat.engine.model);
    const view = sessionCacheView(this.chat.store, this.chat.session, this.chat.engine.policy, this.counter, this.streaming);
    const answer = this.streaming && this.speed?.measured ? this.speed.now() : undefined;
    return { ...toStats(this.chat, answer?.tokensPerSecond ?? this.tokensPerSecond, this.streaming, view), ...(answer ? { answer } : {}) };
  }

  /** What the next answer is written with: the model's defaults overlaid by the chat's stored settings (and `overrides`). */
  answerSettings(overrides: GenerationSettings = {}): AnswerSettings {
    return answerSettings(this.defaults.sampling, this.defaults.maxTokens, { ...storedGeneration(this.chat.session.generation), ...overrides });
  }

  /**
   * Runs `work` as the session's one job, or refuses at once (synchronously) with `busy` when another runs.
   * `what` names the work for the refusal sentence of whoever comes next.
   */
  run<T>(what: string, work: (job: Job) => Promise<T>): Promise<T> {
    this.admit();
    const current: Current = { state: 'reading', abort: new AbortController(), what };
    this.current = current;
    const job: Job = {
      signal: current.abort.signal,
      enter: (state) => {
        if (current.state !== 'stopping') current.state = state;
      },
    };
    const result = this.queue.then(() => work(job));
    // registered first, so the session is idle again before the caller hears the result
    this.queue = result.then(
      () => this.finish(current),
      () => this.finish(current),
    );
    return result;
  }

  /**
   * Runs `work` as the session's job and streams what it pushes, then the final packet it returns. Refusals
   * (busy) and errors before the first packet are thrown to the caller; a reader that goes away, or `signal`,
   * stops the work.
   */
  async *stream<P>(what: string, work: (job: Job, push: (p: P) => void) => Promise<P>, signal?: AbortSignal): AsyncGenerator<P> {
    const cancel = () => this.stop();
    let admitted = false;
    let final = false;
    try {
      const last = yield* emitting<P, P>((push) => {
        const result = this.run(what, (job) => work(job, push)); // refused (busy) at once: nothing of ours to stop
        admitted = true;
        signal?.addEventListener('abort', cancel);
        if (signal?.aborted) cancel();
        return result;
      });
      final = true;
      yield last;
    } finally {
      signal?.removeEventListener('abort', cancel);
      if (admitted && !final) this.stop(); // the reader went away before the end: stop the work it asked for
    }
  }

  /**
   * An answer: `started` first, then progress, tokens and stats, then one final packet. `overrides`: this answer's
   * settings over the chat's (an API request's temperature, max tokens, …); the chat keeps its own.
   */
  answer(start: (opts: SendOptions) => AsyncGenerator<SessionEvent>, signal?: AbortSignal, overrides: GenerationSettings = {}): AsyncGenerator<ChatPacket> {
    return this.stream('still answering', (job, push) => this.answerJob(job, start, push, overrides), signal);
  }

  /**
   * Switches the cache policy: the transcript is re-read under the new one (progress in tokens, with an ETA),
   * then `done` says what happened to the cache. Stopped, it ends `stopped` and the old policy and cache stay.
   */
  setPolicy(spec: PolicySpec, signal?: AbortSignal): AsyncGenerator<PolicyPacket> {
    return this.stream<PolicyPacket>(
      'switching its cache policy',
      async (job, push) => {
        const old = { spec: this.chat.engine.policy.spec, length: this.chat.engine.policy.length };
        const ticker = new ProgressTicker();
        try {
          const report = await this.chat.setPolicy(spec, {
            signal: job.signal,
            onProgress: (done, total) => {
              const figures = ticker.tick(done, total);
              if (figures) push({ type: 'progress', phase: 'rebuild', ...figures });
            },
          });
          const stats = this.stats();
          return { type: 'done', statement: switchStatement(old, spec, this.chat.engine.policy, report.ms, stats.totalTokensSeen), policy: toConfig(spec), stats };
        } catch (err) {
          if (job.signal.aborted) return { type: 'stopped', policy: toConfig(old.spec), stats: this.stats() };
          return { type: 'failed', error: { code: errorCode(err), message: (err as Error)?.message || 'The policy switch failed.' } };
        }
      },
      signal,
    );
  }

  /**
   * Replaces the system prompt. It is the start of the cache (its first tokens are the attention sinks), so the
   * cache is dropped and rebuilt by re-reading the transcript after the new prompt; the statement says so.
   */
  setSystemPrompt(text: string): Promise<string> {
    return this.run('changing its system prompt', async (job) => {
      const old = this.chat.engine.policy.length;
      const report = await this.chat.setSystemPrompt(text, { signal: job.signal }).catch((err: unknown) => {
        if (errorCode(err) !== 'cancelled') throw err;
        throw new PerpetuaError('Stopped: the system prompt and the cache are as they were.', { code: 'cancelled' });
      });
      const now = this.chat.engine.policy;
      const change = text ? 'The new system prompt now starts the cache' : 'The system prompt was removed';
      if (report.kind === 'empty') return `${change}; the conversation is empty, so it is read with your first message.`;
      return (
        `${change}: the old cache (${old} tokens) was dropped and rebuilt by re-reading the transcript (${report.reread} messages) in ` +
        `${Math.round(report.ms)} ms. It now holds ${now.length} of the ${now.totalTokensSeen} tokens read` +
        (now.spec.name === 'sink' ? `, the first ${Math.min(now.spec.sink, now.length)} of them as attention sinks.` : '.')
      );
    });
  }

  /**
   * Shows another branch of the transcript (persistent-chat.ts showBranch); the statement says how the cache was
   * rebuilt for it, null when that branch was shown already.
   */
  switchBranch(messageId: number, version?: number): Promise<string | null> {
    return this.run('switching branches', async () => {
      const report = await this.chat.showBranch(messageId, version);
      if (!report) return null;
      const ms = Math.round(report.ms);
      const how =
        report.kind === 'resumed'
          ? `from a KV snapshot of this branch${report.reread ? ` and ${report.reread} re-read message(s)` : ''}`
          : `by re-reading its ${report.reread} message(s)`;
      return `Switched branches: the cache was rebuilt ${how} in ${ms} ms.`;
    });
  }

  /** Deletes one message and re-reads the transcript (persistent-chat.ts removeMessage), as the session's job. */
  removeMessage(messageId: number): Promise<MessageRemoval> {
    return this.run('deleting a message', () => this.chat.removeMessage(messageId));
  }

  /** Puts a deleted message back and re-reads the transcript, as the session's job. */
  restoreMessage(removal: MessageRemoval): Promise<void> {
    return this.run('putting a message back', () => this.chat.restoreMessage(removal));
  }

  /** The sink inspector over what the cache holds now (the kept head and the newest tokens), as the session's job. */
  inspectSinks(): Promise<SinkReport> {
    return this.run('inspecting its cache', async () => {
      const c = this.chat.engine.policy.contents();
      const tokens = inspectTokens(c.tokens.length ? c.tokens : c.history, c.sinks);
      if (tokens.length <= DEFAULT_FIRST_TOKENS) {
        throw new PerpetuaError('Chat a little first: the inspector needs a few more tokens in the cache.', { code: 'invalid_input' });
      }
      return inspectSinks(this.chat.engine.model, tokens);
    });
  }

  /** Asks the running job to stop; a no-op when idle. */
  stop(): void {
    if (!this.current) return;
    this.current.state = 'stopping';
    this.current.abort.abort();
  }

  /** Stops what runs, waits for it, releases the session's cache and gives its lock back. Later requests are refused. */
  async close(): Promise<void> {
    this.stop();
    this.closed = true;
    await this.queue;
    this.chat.engine.policy.dispose();
    this.chat.close(); // another process (the CLI) may write to the session from now on
  }

  private admit(): void {
    if (this.closed) throw new PerpetuaError('That session was closed.', { code: 'not_found' });
    if (this.current) {
      throw new PerpetuaError(`This session is ${this.current.what}; stop it or wait for it to finish, then try again.`, { code: 'busy' });
    }
  }

  private finish(current: Current): void {
    if (this.current === current) this.current = null;
  }

  /** Streams one answer into `push`; returns its final packet. */
  private async answerJob(
    job: Job,
    start: (opts: SendOptions) => AsyncGenerator<SessionEvent>,
    push: (p: ChatPacket) => void,
    overrides: GenerationSettings,
  ): Promise<ChatPacket> {
    const { chunk } = this.defaults;
    const { maxTokens, sampling, stop } = this.answerSettings(overrides);
    let assistant: number | null = null;
    let lastStats = performance.now();
    const rate = new TransferRate(); // of a long paste being read, for its time left
    let notice: { code: 'context_full'; message: string } | undefined;
    /** the answer ended at its length limit (max tokens): the app labels it */
    let cut = false;
    /** what the model sees moves as a long paste streams through the cache, and again at the first token */
    const stats = (now: boolean) => {
      if (!now && performance.now() - lastStats <= 500) return;
      lastStats = performance.now();
      push({ type: 'stats', stats: this.stats() });
    };
    try {
      for await (const ev of start({ maxTokens, chunk, sampling, stop, signal: job.signal })) {
        if (ev.type === 'started') {
          assistant = ev.assistant.id;
          this.speed = new AnswerSpeed();
          const seenAtStart = this.chat.engine.policy.totalTokensSeen;
          this.streaming = { messageId: ev.assistant.id, generated: 0, promptId: ev.user?.id, promptFed: 0, seenAtStart };
          push({ type: 'started', user: ev.user && toApiMessage(ev.user), assistant: toApiMessage(ev.assistant), replacedMessageId: ev.replaced === null ? null : String(ev.replaced) });
        } else if (ev.type === 'prefill') {
          if (this.streaming) this.streaming.promptFed = ev.done;
          this.speed?.read();
          rate.sample(ev.done);
          const eta = rate.etaSeconds(ev.total);
          push({ type: 'progress', phase: ev.type, done: ev.done, total: ev.total, etaSeconds: eta === null ? null : Math.round(eta) });
          stats(ev.done === ev.total);
        } else if (ev.type === 'token') {
          job.enter('answering');
          if (this.streaming) this.streaming.generated++;
          if (ev.id >= 0) this.speed?.token();
          push({ type: 'token', delta: ev.text, tokens: ev.generated });
          stats(this.streaming?.generated === 1);
        } else if (ev.type === 'done') {
          this.tokensPerSecond = ev.tokensPerSecond;
          this.speed?.end(ev.tokens.length, ev.tokensPerSecond);
          if (ev.reason === 'context') notice = { code: 'context_full', message: contextFullSentence(this.chat.engine.policy.capacity) };
          cut = ev.reason === 'length';
        }
      }
    } catch (err) {
      this.streaming = undefined;
      if (assistant === null) throw err; // refused before anything was stored: the caller gets the error
      this.keepSpeed(assistant);
      const message = this.message(assistant);
      if (errorCode(err) === 'cancelled') return { type: 'stopped', message, stats: this.stats() };
      // the answer is stored whole and what failed came after it (its cache snapshot on a full disk): the turn is
      // what the database says, and the failure a notice
      if (message.state === 'done') return { type: 'done', message, stats: this.stats(), notice: { code: errorCode(err), message: (err as Error).message } };
      if (message.state === 'stopped') return { type: 'stopped', message, stats: this.stats() };
      return { type: 'failed', message, error: { code: errorCode(err), message: (err as Error)?.message || 'The answer failed.' } };
    }
    this.streaming = undefined;
    this.keepSpeed(assistant!, cut);
    const message = this.message(assistant!);
    if (message.state === 'stopped') return { type: 'stopped', message, stats: this.stats() };
    return { type: 'done', message, stats: this.stats(), ...(notice ? { notice } : {}) };
  }

  /** Stores the answer's speed with it (shown under it after a reload); an answer stopped before its first token has none. */
  private keepSpeed(messageId: number, cut = false): void {
    const speed = this.speed;
    this.speed = undefined;
    if (!speed?.measured) return;
    try {
      this.chat.store.setMessageStats(messageId, { ...speed.now(), ...(cut ? { cut: 'length' } : {}) });
    } catch {
      // a store that fails here (disk full) already failed the answer: its error is the one reported
    }
  }

  private message(id: number) {
    return toApiMessage(this.chat.store.getMessage(id)!);
  }
}

/** What a policy switch did to the cache, for the user. */
/** `seen`: the conversation's tokens as the stats show them (a re-read tokenizes the transcript anew and may count a few otherwise). */
function switchStatement(old: { spec: PolicySpec; length: number }, spec: PolicySpec, now: CachePolicy, ms: number, seen: number): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    `Switched from ${describePolicy(old.spec)} to ${describePolicy(spec)}. The old cache (${n(old.length)} tokens) was dropped and the new one ` +
    `rebuilt by re-reading the transcript in ${n(Math.round(ms))} ms: it now holds ${n(now.length)} of the ${n(seen)} tokens of this conversation` +
    (spec.name === 'sink' ? ` (${Math.min(spec.sink, now.length)} sink tokens kept forever).` : '.')
  );
}
