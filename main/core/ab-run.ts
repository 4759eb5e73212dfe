import { restoreContents } from '../cache/cache-snapshot.js';
import type { PolicySpec } from '../policy/policy.js';
import { createPolicy } from '../cache/create-policy.js';
import { forkCache } from '../cache/fork-cache.js';
import { toHostKv } from '../engine/layer-kv.js';
import { Engine } from '../engine/engine.js';
import type { SamplingOptions } from '../engine/sampler.js';
import { streamPerplexity, type PolicyPplResult } from '../eval/stream-ppl.js';
import { emitting } from '../shared/emitting.js';
import { percentile } from '../eval/percentile.js';
import type { ChatEvent } from './chat-session.js';
import { ChatSession } from './chat-session.js';
import type { PersistentChat } from './persistent-chat.js';

export type BranchLabel = 'a' | 'b';

export interface AbBranchMetrics {
  policy: PolicySpec;
  answer: string;
  tokens: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  tokensPerSecond: number;
  cacheFill: number;
  cacheCapacity: number;
  kvBytes: number;
  /** teacher-forced perplexity of the whole conversation (this branch's answer included) under this policy */
  transcriptPpl: number;
  transcriptTokens: number;
  /** how the branch got its cache: forked from the session's, or rebuilt from the transcript */
  fork: 'forked' | 'rebuilt';
}

export type AbEvent =
  | { type: 'fork'; branch: BranchLabel; how: 'forked' | 'rebuilt' }
  | { type: 'prefill'; branch: BranchLabel; done: number; total: number }
  | { type: 'token'; branch: BranchLabel; text: string }
  | { type: 'scoring'; branch: BranchLabel; done: number; total: number }
  | { type: 'done'; a: AbBranchMetrics; b: AbBranchMetrics };

export interface AbOptions {
  maxTokens: number;
  sampling?: SamplingOptions;
  signal?: AbortSignal;
  chunk?: number;
}

/** A branch of the session: its own engine and policy, the session's conversation and (forked) cache. */
export class AbBranch {
  private constructor(
    readonly label: BranchLabel,
    readonly chat: ChatSession,
    readonly fork: 'forked' | 'rebuilt',
  ) {}

  static async create(label: BranchLabel, session: PersistentChat, spec: PolicySpec): Promise<AbBranch> {
    const source = session.engine;
    const engine = new Engine(source.model, createPolicy(spec, source.model.config, source.model.kvEditor));
    const contents = source.policy.contents();
    const host = { ...contents, kv: await toHostKv(contents.kv, source.model.kvEditor) };
    const forked = forkCache(host, spec, source.model.geometry, source.model.config.rope);
    if (forked) {
      await restoreContents(engine, forked);
      return new AbBranch(label, session.chat.fork(engine), 'forked');
    }
    // e.g. a dense branch of a session whose early tokens were evicted: re-read the transcript under the new policy
    const chat = new ChatSession(engine, session.session.systemPrompt || null, { raw: session.chat.continuation });
    for await (const ev of chat.resume(session.chat.messages.filter((m) => m.role !== 'system'), 0, { maxTokens: 0 })) void ev;
    return new AbBranch(label, chat, 'rebuilt');
  }
}

/**
 * Sends one prompt to both branches and streams both answers, decoding them alternately token by token so
 * neither waits for the other; then scores the conversation of each branch under its own policy.
 */
export async function* runAb(a: AbBranch, b: AbBranch, prompt: string, opts: AbOptions): AsyncGenerator<AbEvent> {
  yield { type: 'fork', branch: 'a', how: a.fork };
  yield { type: 'fork', branch: 'b', how: b.fork };
  const streams = [a, b].map((branch) => ({
    branch,
    events: branch.chat.send(prompt, { ...opts }),
    latencies: [] as number[],
    answer: '',
    tokens: 0,
    tokensPerSecond: 0,
    done: false,
  }));
  while (streams.some((s) => !s.done)) {
    for (const s of streams) {
      if (s.done) continue;
      const started = performance.now();
      const next = await s.events.next();
      if (next.done) {
        s.done = true;
        continue;
      }
      const ev: ChatEvent = next.value;
      if (ev.type === 'prefill') yield { type: 'prefill', branch: s.branch.label, done: ev.done, total: ev.total };
      if (ev.type === 'token') {
        s.latencies.push(performance.now() - started);
        yield { type: 'token', branch: s.branch.label, text: ev.text };
      }
      if (ev.type === 'done') {
        s.answer = ev.text;
        s.tokens = ev.tokens.length;
        s.tokensPerSecond = ev.tokensPerSecond;
      }
    }
  }
  const metrics: AbBranchMetrics[] = [];
  for (const s of streams) {
    const { engine } = s.branch.chat;
    const transcript = engine.model.tokenizer.encode(s.branch.chat.consumedText, s.branch.chat.raw);
    const spec = engine.policy.spec;
    const label = s.branch.label;
    yield { type: 'scoring', branch: label, done: 0, total: transcript.length };
    // every measured chunk reaches the user as it is measured (a long conversation takes minutes)
    const ppl = yield* emitting<AbEvent, PolicyPplResult>((emit) =>
      streamPerplexity(engine.model, spec, transcript, {
        chunk: spec.name === 'recompute' ? 1 : 64,
        signal: opts.signal,
        onProgress: (done, total) => emit({ type: 'scoring', branch: label, done, total }),
      }),
    );
    metrics.push({
      policy: spec,
      answer: s.answer,
      tokens: s.tokens,
      latencyP50Ms: s.latencies.length ? percentile(s.latencies, 0.5) : 0,
      latencyP90Ms: s.latencies.length ? percentile(s.latencies, 0.9) : 0,
      tokensPerSecond: s.tokensPerSecond,
      cacheFill: engine.policy.length,
      cacheCapacity: Number.isFinite(engine.policy.capacity) ? engine.policy.capacity : engine.model.config.maxPositions,
      kvBytes: engine.policy.kvBytes(),
      transcriptPpl: ppl.ppl,
      transcriptTokens: transcript.length,
      fork: s.branch.fork,
    });
  }
  yield { type: 'done', a: metrics[0], b: metrics[1] };
}
