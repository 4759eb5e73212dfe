import { randomUUID } from 'node:crypto';
import type { AbVote, AbVoteResult } from '../api/ab-schemas.js';
import type { AbPacket } from '../api/packets.js';
import type { SamplingOptions } from '../engine/sampler.js';
import type { PolicySpec } from '../policy/policy.js';
import { describePolicy, formatPolicy } from '../policy/policy-text.js';
import { errorCode, PerpetuaError } from '../shared/errors.js';
import { ProgressTicker } from '../shared/progress-ticker.js';
import type { Store } from '../store/store.js';
import type { AbRun } from '../store/types.js';
import { toSpec } from '../policy/policy.js';
import { abBaseOf, chatIsAtBase } from './ab-base.js';
import { toApiAbRun, toApiMetrics } from './ab-history.js';
import { toApiSession } from './api-mappers.js';
import { messageCount } from './session-queries.js';
import { AbBranch, runAb, type AbBranchMetrics } from './ab-run.js';
import type { ChatSession } from './chat-session.js';
import type { Job, SessionRunner } from './session-runner.js';

export interface AbRequest {
  a: PolicySpec;
  b: PolicySpec;
  prompt: string;
  maxTokens: number;
  sampling?: SamplingOptions;
  chunk?: number;
}

/** The branches of a stored run, kept so a vote can continue the session from one. */
interface PendingAb {
  sessionId: number;
  prompt: string;
  a: AbBranch;
  b: AbBranch;
  metrics: { a: AbBranchMetrics; b: AbBranchMetrics };
  /** The session's conversation when the branches were forked: their caches fit only while it is the same. */
  baseChat: ChatSession;
}

/**
 * A/B runs of cache policies, for the app and `perpetua ab` alike: a run forks the session's cache into two
 * branches, streams both answers, scores the conversation under each policy and stores the run; its branches are
 * kept (one run per session, the newest) so a vote can continue the session from the winner at once. Branches are
 * dropped when the session moves on, on a newer run, and on close; the run records where it forked, so the session
 * can continue from either answer while it stays there (rebuilding the cache, after a restart too).
 */
export class AbCoordinator {
  private readonly pending = new Map<number, PendingAb>();

  constructor(private readonly store: Store) {}

  /** One comparison as the session's job: `started`, progress and tokens of both branches, then one final packet. */
  run(runner: SessionRunner, req: AbRequest, signal?: AbortSignal): AsyncGenerator<AbPacket> {
    return runner.stream('running an A/B comparison', (job, push) => this.compare(runner, req, job, push), signal);
  }

  /**
   * Stores (or with null clears) the vote on a run; with `continueWith` (a vote of a or b) the session continues
   * from that branch: its prompt and answer join the transcript, its policy becomes the session's, and so does its
   * cache while the core still holds it; otherwise (the core restarted since the run) the cache is rebuilt for it.
   */
  async vote(runId: number, vote: AbVote | null, continueWith?: (sessionId: number) => Promise<SessionRunner>): Promise<AbVoteResult> {
    if (!continueWith) return this.voteResult(this.store.voteAbRun(runId, vote), null, null);
    if (vote !== 'a' && vote !== 'b') throw new PerpetuaError('Vote for A or B to continue the chat from that answer.', { code: 'invalid_input' });
    const pending = this.pending.get(runId);
    const stored = this.store.getAbRun(runId);
    if (stored.sessionId === null) throw new PerpetuaError('The chat of this comparison was deleted: there is nothing to continue. Your vote was not changed.', { code: 'not_found' });
    const runner = await continueWith(stored.sessionId);
    const continued = await runner.run('continuing from an A/B branch', async () => {
      if (!chatIsAtBase(this.store, stored)) {
        this.forget(stored.sessionId!);
        throw stale();
      }
      const statement = pending && runner.chat.chat === pending.baseChat ? await this.adopt(runner, runId, pending, vote) : await this.rebuildFor(runner, stored, vote);
      return { run: this.store.voteAbRun(runId, vote), statement };
    });
    return this.voteResult(continued.run, continued.statement, runner);
  }

  /** The session takes over the branch the core still holds: its cache needs no rebuilding. */
  private async adopt(runner: SessionRunner, runId: number, pending: PendingAb, vote: 'a' | 'b'): Promise<string> {
    const winner = pending[vote];
    const old = runner.chat.chat;
    await runner.chat.adoptBranch(winner.chat, pending.prompt, pending.metrics[vote].answer);
    this.pending.delete(runId);
    release(pending[vote === 'a' ? 'b' : 'a']);
    if (old !== winner.chat) old.engine.policy.dispose(); // the session's old cache: its KV may live on the GPU
    runner.tokensPerSecond = pending.metrics[vote].tokensPerSecond;
    return continuesFrom(vote, winner.chat.engine.policy.spec);
  }

  /** The branch's cache is gone (the core restarted): its answer joins the transcript and the cache is rebuilt for it. */
  private async rebuildFor(runner: SessionRunner, stored: AbRun, vote: 'a' | 'b'): Promise<string> {
    const branch = toApiAbRun(stored)?.[vote];
    if (!branch) throw new PerpetuaError('This A/B run was stored in a form this version cannot read.');
    const spec = toSpec(branch.policy);
    await runner.chat.adoptAnswer(stored.prompt, branch.answer, spec);
    this.forget(stored.sessionId!);
    return continuesFrom(vote, spec);
  }

  /** A vote as the API answers it: the run, the session after it and, when it continued, the session's cache figures. */
  private voteResult(stored: AbRun, statement: string | null, runner: SessionRunner | null): AbVoteResult {
    const run = toApiAbRun(stored, chatIsAtBase(this.store, stored));
    if (!run) throw new PerpetuaError('This A/B run was stored in a form this version cannot read.');
    const session = stored.sessionId === null ? undefined : this.store.getSession(stored.sessionId);
    return {
      run,
      continued: statement !== null,
      session: session ? toApiSession(session, messageCount(this.store, session.id)) : null,
      statement,
      stats: runner?.stats() ?? null,
    };
  }

  /** Drops the kept branches of a session's runs (their KV may hold GPU memory). */
  forget(sessionId: number): void {
    for (const [runId, p] of this.pending) {
      if (p.sessionId !== sessionId) continue;
      this.pending.delete(runId);
      release(p.a);
      release(p.b);
    }
  }

  close(): void {
    for (const p of [...this.pending.values()]) this.forget(p.sessionId);
  }

  private async compare(runner: SessionRunner, req: AbRequest, job: Job, push: (p: AbPacket) => void): Promise<AbPacket> {
    const { chat } = runner;
    const sessionId = runner.sessionId;
    this.forget(sessionId); // a newer run: the earlier one can no longer be continued from
    push({ type: 'started', abId: randomUUID() });
    const branches: AbBranch[] = [];
    try {
      const baseChat = chat.chat;
      const base = abBaseOf(this.store, sessionId);
      for (const label of ['a', 'b'] as const) {
        branches.push(await AbBranch.create(label, chat, req[label]));
        job.signal.throwIfAborted();
      }
      const [a, b] = branches;
      let result: { a: AbBranchMetrics; b: AbBranchMetrics } | null = null;
      /** progress with an ETA per branch and phase */
      const tickers = new Map<string, ProgressTicker>();
      for await (const ev of runAb(a, b, req.prompt, { maxTokens: req.maxTokens, chunk: req.chunk, sampling: req.sampling, signal: job.signal })) {
        if (ev.type === 'token') {
          job.enter('answering');
          push({ type: 'token', branch: ev.branch, delta: ev.text });
        } else if (ev.type === 'fork') push({ type: 'progress', branch: ev.branch, phase: 'fork', done: 0, total: 0, fork: ev.how });
        else if (ev.type === 'prefill' || ev.type === 'scoring') {
          const key = `${ev.branch}:${ev.type}`;
          const ticker = tickers.get(key) ?? tickers.set(key, new ProgressTicker()).get(key)!;
          const figures = ticker.tick(ev.done, ev.total);
          if (figures) push({ type: 'progress', branch: ev.branch, phase: ev.type, ...figures });
        }
        else if (ev.type === 'done') result = { a: ev.a, b: ev.b };
      }
      job.signal.throwIfAborted(); // a stopped run ends early (partial answers, partial scores): it is not stored
      if (!result) throw new PerpetuaError('The A/B run ended without a result.');
      const run = this.store.recordAbRun({
        sessionId,
        prompt: req.prompt,
        branchA: { policy: formatPolicy(result.a.policy), answer: result.a.answer },
        branchB: { policy: formatPolicy(result.b.policy), answer: result.b.answer },
        metrics: { a: result.a, b: result.b },
        base,
      });
      this.pending.set(run.id, { sessionId, prompt: req.prompt, a, b, metrics: result, baseChat });
      branches.length = 0; // kept for the vote
      return { type: 'done', runId: String(run.id), a: toApiMetrics(result.a), b: toApiMetrics(result.b) };
    } catch (err) {
      if (job.signal.aborted) return { type: 'stopped' };
      return { type: 'failed', error: { code: errorCode(err), message: (err as Error)?.message || 'The A/B run failed.' } };
    } finally {
      for (const b of branches) release(b);
    }
  }

}

function release(b: AbBranch): void {
  b.chat.engine.policy.dispose();
}

function stale(): PerpetuaError {
  return new PerpetuaError('The chat can no longer continue from this comparison: it has moved on since. Your vote was not changed.', { code: 'stale' });
}

function continuesFrom(vote: 'a' | 'b', spec: PolicySpec): string {
  return `The chat continues from ${vote.toUpperCase()}: ${describePolicy(spec)}.`;
}
