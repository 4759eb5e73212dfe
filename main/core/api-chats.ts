/**
 * Completions for OpenAI-style clients (`chat.complete`, `text.complete`), which send the whole conversation with every
 * request. Each request is matched to the stored API chat whose transcript is the longest prefix of it
 * (transcript-match.ts), so a growing history costs only its new turn — also after a restart, from the chat's KV
 * snapshot — and runs on that chat's SessionRunner like any answer from the app: stored as it streams, searchable,
 * exportable, under the chat's cache policy (sink by default), so a conversation longer than the cache goes on.
 */
import type { ChatPacket } from '../api/packets.js';
import type { ChatCompleteParams, CompletionMatch, CompletionPacket, FinishReason, TextCompleteParams } from '../api/completion-schemas.js';
import type { GenerationSettings } from '../api/generation-schemas.js';
import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import type { ModelLibrary } from '../models/model-library.js';
import { defaultPolicyFor, toSpec, type PolicySpec } from '../policy/policy.js';
import { encodePolicy } from '../policy/policy-store.js';
import { policyKey } from '../policy/policy-text.js';
import { errorCode, PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';
import type { Model as ModelRow, Session } from '../store/types.js';
import { ChatSession } from './chat-session.js';
import { answerSettings, modelSampling } from './generation-settings.js';
import { sessionPolicy } from './persistent-chat.js';
import type { SessionDirectory } from './session-directory.js';
import type { SessionRunner } from './session-runner.js';
import { heldTurns, matchTranscript, splitConversation, type Conversation, type MatchPlan } from './transcript-match.js';

export interface ApiChatsOptions {
  /** tokens per prefill run */
  chunk: number;
  /** answer length where neither the request nor the chat sets one */
  maxTokens: number;
  /** a chat took a new turn (earlier A/B branches of it no longer fit) */
  movedOn?: (sessionId: number) => void;
}

/** The chat a request goes to, and how. */
interface Matched {
  session: Session;
  plan: MatchPlan;
  /** the request named the chat */
  named: boolean;
  /** the chat was made for this request */
  created: boolean;
}

/** Characters of the first user turn a new API chat is named after. */
const NAME_CHARS = 48;

export class ApiChats {
  constructor(
    private readonly store: Store,
    private readonly library: ModelLibrary,
    private readonly sessions: SessionDirectory,
    private readonly opts: ApiChatsOptions,
  ) {}

  /** Answers the conversation's last user turn in the chat that holds the most of it (or a new one). */
  async *complete(p: ChatCompleteParams, signal: AbortSignal): AsyncGenerator<CompletionPacket> {
    const c = splitConversation(p.messages);
    const generation = definedOnly(p.generation);
    const { session, plan, named, created } = p.session ? this.named(p.session, p, c) : await this.bestMatch(this.modelRow(p.model), c, p.policy);
    const wasOpen = (await this.sessions.ifOpen(session.id)) !== null;
    const runner = await this.sessions.runner(session.id);
    let reread = wasOpen ? 0 : (runner.chat.restored.rereadTokens ?? 0);
    if (p.policy && policyKey(p.policy) !== policyKey(runner.chat.engine.policy.spec)) reread += await this.switchPolicy(runner, toSpec(p.policy), signal);
    if (named && c.system && c.system !== runner.chat.session.systemPrompt) {
      await runner.setSystemPrompt(c.system);
      reread += runner.chat.restored.rereadTokens ?? 0;
    }
    const { maxTokens } = runner.answerSettings(generation);
    const packets = runner.answer((opts) => startFor(runner, plan, c, opts), signal, generation);
    const match: CompletionMatch = { kind: created ? 'new' : plan.kind, reusedMessages: plan.reused, named };
    let fed = 0;
    let lastDone = 0;
    let lastTotal = -1;
    let tokens = 0;
    for await (const packet of packets) {
      if (packet.type === 'started') this.opts.movedOn?.(session.id);
      if (packet.type === 'started') yield { type: 'started', session: { id: String(session.id), name: runner.chat.session.name }, match };
      else if (packet.type === 'progress') {
        // a new chat reads its system prompt on its own, then the turn: each counts from 0 to its own total
        if (packet.done <= lastDone || lastDone === lastTotal) lastDone = 0;
        fed += packet.done - lastDone;
        [lastDone, lastTotal] = [packet.done, packet.total];
        yield { type: 'progress', done: packet.done, total: packet.total };
      } else if (packet.type === 'token') {
        tokens++;
        yield { type: 'token', delta: packet.delta };
      } else if (packet.type === 'failed') {
        yield { type: 'failed', error: packet.error };
        return;
      } else if (packet.type === 'done' || packet.type === 'stopped') {
        if (plan.kind !== 'continued') reread += runner.chat.restored.rereadTokens ?? 0;
        const completion = packet.message.stats?.tokens ?? tokens;
        // every generated token was fed back: what the cache has seen beyond them is the conversation it answered
        const prompt = Math.max(0, runner.chat.engine.policy.totalTokensSeen - completion);
        yield {
          type: packet.type,
          text: packet.message.text,
          finishReason: finishReason(packet, completion, maxTokens),
          usage: { promptTokens: prompt, completionTokens: completion, cachedTokens: Math.max(0, prompt - fed - reread) },
          stats: packet.stats,
          messageId: packet.message.id,
        };
        return;
      }
    }
  }

  /** A plain continuation of the prompt on a fresh cache (the chat's default policy): streamed, not stored. */
  async *completeText(p: TextCompleteParams, signal: AbortSignal): AsyncGenerator<CompletionPacket> {
    const model = await this.library.load(this.modelRow(p.model));
    const spec = p.policy ? toSpec(p.policy) : defaultPolicyFor(model.config.maxPositions);
    const chat = new ChatSession(new Engine(model, createPolicy(spec, model.config, model.kvEditor)), null, { raw: true });
    const { maxTokens, sampling, stop } = answerSettings(modelSampling(model.dir), this.opts.maxTokens, definedOnly(p.generation));
    yield { type: 'started', session: null, match: { kind: 'new', reusedMessages: 0, named: false } };
    let text = '';
    let tokens = 0;
    let prompt = 0;
    let reason: FinishReason = 'stop';
    try {
      for await (const ev of chat.send(p.prompt, { maxTokens, sampling, stop, signal, chunk: this.opts.chunk })) {
        if (ev.type === 'prefill') prompt = Math.max(prompt, ev.total);
        else if (ev.type === 'token') {
          text += ev.text;
          if (ev.id >= 0) tokens++;
          yield { type: 'token', delta: ev.text };
        } else if (ev.type === 'done') reason = ev.reason === 'eos' ? 'stop' : ev.reason;
      }
    } catch (err) {
      if (errorCode(err) !== 'cancelled') {
        yield { type: 'failed', error: { code: errorCode(err), message: (err as Error)?.message || 'The completion failed.' } };
        return;
      }
      reason = 'cancelled';
    } finally {
      chat.engine.policy.dispose();
    }
    const usage = { promptTokens: prompt, completionTokens: tokens, cachedTokens: 0 };
    yield { type: reason === 'cancelled' ? 'stopped' : 'done', text, finishReason: reason, usage, stats: null, messageId: null };
  }

  /** A model by id or name; none named: the first in the library. */
  private modelRow(name: string | undefined): ModelRow {
    const models = this.store.listModels();
    const found = name === undefined ? models[0] : models.find((m) => String(m.id) === name || m.name === name);
    if (found) return found;
    const known = models.map((m) => `"${m.name}"`).join(', ') || 'none yet';
    throw new PerpetuaError(`The model "${name ?? ''}" is not in the library. Models: ${known}.`, { code: 'not_found' });
  }

  /** The chat a request names (an id or a name; a new name creates it): the request's history continues it. */
  private named(ref: string, p: ChatCompleteParams, c: Conversation): Matched {
    const found = (/^\d+$/.test(ref) ? this.store.getSession(Number(ref)) : undefined) ?? this.store.getSessionByName(ref);
    const session = found ?? this.create(ref, this.modelRow(p.model), c.system, p.policy ? toSpec(p.policy) : undefined);
    // a client that keeps its own state sends only the new turn: it goes after what the chat holds
    const plan: MatchPlan =
      c.history.length === 0
        ? { kind: 'continued', reused: heldTurns(this.store.listMessages(session.id)).length, extras: [] }
        : matchTranscript(this.store.listMessages(session.id), c);
    return { session, plan, named: true, created: !found };
  }

  /**
   * The API chat (same model and system prompt) whose transcript covers the most of the request; among equals an idle
   * one, then the most recent. A request without history, or one no chat shares a start with, begins a new chat.
   */
  private async bestMatch(model: ModelRow, c: Conversation, policy: ChatCompleteParams['policy']): Promise<Matched> {
    let best: { session: Session; plan: MatchPlan; idle: boolean } | null = null;
    if (c.history.length > 0) {
      for (const s of this.store.listSessions()) {
        if (s.origin !== 'api' || s.modelId !== model.id || s.systemPrompt !== c.system) continue;
        const first = this.store.listMessages(s.id, { limit: 1 })[0];
        if (!first || first.role !== c.history[0].role || first.text !== c.history[0].content) continue;
        const plan = matchTranscript(this.store.listMessages(s.id), c);
        if (plan.reused === 0) continue;
        const idle = ((await this.sessions.ifOpen(s.id))?.state ?? 'idle') === 'idle';
        // the list puts pinned chats first: "most recent" is said, not taken from its order
        const sameReuse = best !== null && plan.reused === best.plan.reused;
        const better = !best || plan.reused > best.plan.reused || (sameReuse && idle && !best.idle) || (sameReuse && idle === best.idle && s.updatedAt > best.session.updatedAt);
        if (better) best = { session: s, plan, idle };
      }
    }
    if (best) return { session: best.session, plan: best.plan, named: false, created: false };
    const session = this.create(newChatName(this.store, c), model, c.system, policy ? toSpec(policy) : undefined);
    const plan: MatchPlan = c.history.length ? { kind: 'appended', reused: 0, extras: c.history } : { kind: 'continued', reused: 0, extras: [] };
    return { session, plan, named: false, created: true };
  }

  private create(name: string, model: ModelRow, system: string, spec?: PolicySpec): Session {
    const maxPositions = (model.config as { maxPositions?: number }).maxPositions;
    const { name: policy, params: policyParams } = encodePolicy(spec ?? defaultPolicyFor(maxPositions));
    return this.store.createSession({ name, modelId: model.id, policy, policyParams, systemPrompt: system, origin: 'api' });
  }

  /** Switches a chat's policy before the answer (its cache is rebuilt); returns the tokens re-read. */
  private async switchPolicy(runner: SessionRunner, spec: PolicySpec, signal: AbortSignal): Promise<number> {
    let total = 0;
    for await (const packet of runner.setPolicy(spec, signal)) {
      if (packet.type === 'progress') total = packet.total;
      else if (packet.type === 'failed') throw new PerpetuaError(packet.error.message, { code: packet.error.code === 'cancelled' ? 'cancelled' : 'failed' });
      else if (packet.type === 'stopped') throw new PerpetuaError('Stopped while the cache was rebuilt for the new policy.', { code: 'cancelled' });
    }
    return total;
  }
}

/** How the plan's answer starts: the new turn after the chat's head, a branch, or a new version of an answer. */
function startFor(runner: SessionRunner, plan: MatchPlan, c: Conversation, opts: Parameters<SessionRunner['chat']['send']>[1]) {
  const extras = (m: { role: 'system' | 'user' | 'assistant'; content: string }[]) => m.map((x) => ({ role: x.role, text: x.content }));
  switch (plan.kind) {
    case 'continued':
      return runner.chat.send(c.last, opts);
    case 'appended':
      return runner.chat.sendAfter(undefined, extras(plan.extras), c.last, opts);
    case 'branched':
      return runner.chat.sendAfter(plan.forkAfter, extras(plan.extras), c.last, opts);
    case 'regenerated':
      return runner.chat.regenerate(opts, plan.answerId);
  }
}

function finishReason(packet: Extract<ChatPacket, { type: 'done' | 'stopped' }>, tokens: number, maxTokens: number): FinishReason {
  if (packet.type === 'stopped') return 'cancelled';
  if (packet.notice?.code === 'context_full') return 'context';
  return tokens >= maxTokens ? 'length' : 'stop';
}

/** Settings a request left out must not hide the chat's (a spread copies undefined). */
function definedOnly(g: GenerationSettings | undefined): GenerationSettings {
  return Object.fromEntries(Object.entries(g ?? {}).filter(([, v]) => v !== undefined)) as GenerationSettings;
}

/** "API: <start of the first user turn>", numbered when taken. */
function newChatName(store: Store, c: Conversation): string {
  const first = (c.history.find((m) => m.role === 'user')?.content ?? c.last).replace(/\s+/gu, ' ').trim();
  const base = `API: ${[...first].slice(0, NAME_CHARS).join('') || 'chat'}`.replace(/[\u0000-\u001f\u007f-\u009f]/gu, '');
  let name = base;
  for (let i = 2; store.getSessionByName(name); i++) name = `${base} (${i})`;
  return name;
}
