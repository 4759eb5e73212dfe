import { DamagedRowError } from './errors.js';
import type { AbRun, AbRunBase, AbVote, EvalRun, Message, MessageState, Model, PolicyName, PolicyParams, Session, SnapshotInfo } from './types.js';

// Row shapes as SQLite returns them (snake_case, JSON as text).
export interface ModelRow { id: number; name: string; dir: string; fingerprint: string; config: string; created_at: number }
export interface SessionRow {
  id: number; name: string; model_id: number; policy: string; policy_params: string; system_prompt: string;
  generation: string; total_tokens_seen: number; created_at: number; updated_at: number; origin: string; pinned: number;
}
export interface SummaryRow extends SessionRow {
  message_count: number; last_id: number | null; last_role: string | null; last_state: string | null;
  last_text: string | null; last_created_at: number | null;
}
export interface MessageRow {
  id: number; session_id: number; seq: number; role: string; text: string; token_count: number; state: string;
  stats: string | null; created_at: number; updated_at: number; parent_id: number | null;
  /** present where a statement reads the message with its versions (statements.ts) */
  sibling_index?: number; sibling_count?: number;
}
export interface SearchRow { session_id: number; session_name: string; message_id: number; seq: number; role: string; text: string; created_at: number }
export interface SnapshotRow { id: number; session_id: number; message_id: number | null; created_at: number; size: number; bytes?: Buffer }
export interface AbRunRow {
  id: number; session_id: number | null; created_at: number; prompt: string; branch_a: string; branch_b: string;
  metrics: string; vote: string | null; base: string | null;
}
export interface EvalRunRow { id: number; created_at: number; kind: string; model: string; params: string; result: string }


/** A JSON column as the app wrote it; a value a damaged page left there is the store's damage refusal, not a SyntaxError. */
export function storedJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DamagedRowError(field, { cause: error });
  }
}

export function toModel(r: ModelRow): Model {
  return { id: r.id, name: r.name, dir: r.dir, fingerprint: r.fingerprint, config: storedJson(r.config, 'model config') as Record<string, unknown>, createdAt: r.created_at };
}

export function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    name: r.name,
    modelId: r.model_id,
    policy: r.policy as PolicyName,
    policyParams: storedJson(r.policy_params, 'policy') as PolicyParams,
    systemPrompt: r.system_prompt,
    generation: storedJson(r.generation, 'generation settings') as Record<string, unknown>,
    totalTokensSeen: r.total_tokens_seen,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    origin: r.origin === 'api' ? 'api' : 'app',
    pinned: r.pinned === 1,
  };
}

export function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    sessionId: r.session_id,
    seq: r.seq,
    role: r.role as Message['role'],
    text: r.text,
    tokenCount: r.token_count,
    state: r.state as MessageState,
    stats: r.stats === null || r.stats === undefined ? null : (storedJson(r.stats, 'message statistics') as Record<string, unknown>),
    parentId: r.parent_id ?? null,
    ...(r.sibling_count === undefined ? {} : { siblings: { index: r.sibling_index ?? 0, count: r.sibling_count } }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toSnapshotInfo(r: SnapshotRow): SnapshotInfo {
  return { id: r.id, sessionId: r.session_id, messageId: r.message_id, createdAt: r.created_at, size: r.size };
}

export function toAbRun(r: AbRunRow): AbRun {
  return {
    id: r.id,
    sessionId: r.session_id,
    createdAt: r.created_at,
    prompt: r.prompt,
    branchA: storedJson(r.branch_a, 'A/B answer'),
    branchB: storedJson(r.branch_b, 'A/B answer'),
    metrics: storedJson(r.metrics, 'A/B metrics'),
    vote: r.vote as AbVote | null,
    base: r.base === null ? null : (storedJson(r.base, 'A/B base') as AbRunBase),
  };
}

export function toEvalRun(r: EvalRunRow): EvalRun {
  return { id: r.id, createdAt: r.created_at, kind: r.kind, model: r.model, params: storedJson(r.params, 'evaluation'), result: storedJson(r.result, 'evaluation') };
}
