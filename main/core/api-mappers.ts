/** The core's plain data as the API carries it (ids as strings, the user's part of a policy). */
import { describeAdapter } from '../engine/gpu-adapter.js';
import { MessageStatsSchema, type Message as ApiMessage, type Session as ApiSession, type Stats } from '../api/schemas.js';
import { toConfig } from '../policy/policy.js';
import type { Message, Session } from '../store/types.js';
import type { CacheView, StreamingTurn } from './cache-view.js';
import { sessionPolicy, type PersistentChat } from './persistent-chat.js';
import { tokenRatesOf } from './token-rates.js';

export function toApiSession(s: Session, messageCount: number): ApiSession {
  return {
    id: String(s.id),
    name: s.name,
    modelId: String(s.modelId),
    policy: toConfig(sessionPolicy(s)),
    systemPrompt: s.systemPrompt || null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    messageCount,
    ...(s.origin === 'api' ? { origin: 'api' as const } : {}),
    ...(s.pinned ? { pinned: true } : {}),
  };
}

export function toApiMessage(m: Message): ApiMessage {
  const stats = m.stats === null ? undefined : MessageStatsSchema.safeParse(m.stats).data;
  return {
    id: String(m.id),
    sessionId: String(m.sessionId),
    seq: m.seq,
    parentId: m.parentId === null ? null : String(m.parentId),
    ...(m.siblings ? { siblings: m.siblings } : {}),
    role: m.role,
    text: m.text,
    state: m.state,
    createdAt: m.createdAt,
    ...(stats ? { stats } : {}),
  };
}

/** Cache and speed figures of an open session; `streaming` is the turn in flight, `view` what the model still sees. */
export function toStats(chat: PersistentChat, tokensPerSecond: number, streaming: StreamingTurn | undefined, view: CacheView): Stats {
  const { engine } = chat;
  const policy = engine.policy;
  return {
    sessionId: String(chat.session.id),
    tokensPerSecond,
    cacheFill: policy.length,
    cacheCapacity: Number.isFinite(policy.capacity) ? policy.capacity : engine.model.config.maxPositions,
    kvBytes: policy.kvBytes(),
    executionProvider: engine.model.provider,
    providerFallbackReason: engine.model.providerFallbackReason ?? undefined,
    gpuAdapter: engine.model.adapter ? describeAdapter(engine.model.adapter) : undefined,
    // the store counts a turn when it ends (a rebuilt cache re-reads tokens, it does not see new ones); a turn in
    // flight adds what it has fed so far
    totalTokensSeen: chat.session.totalTokensSeen + (streaming ? Math.max(0, policy.totalTokensSeen - streaming.seenAtStart) : 0),
    policy: toConfig(policy.spec),
    view,
    tokenRates: tokenRatesOf(engine.model.tokenizer),
  };
}
