/**
 * Plain data the store reads and writes. Timestamps are milliseconds since the Unix epoch.
 * JSON columns come back parsed; their shape is validated by the API layer, not here.
 */

/** A session's policy is kept as its name and a record of its numbers (main/policy encodes and decodes them). */
import type { PolicyName } from '../policy/policy.js';
import type { PolicyParams } from '../policy/policy-store.js';

export type { PolicyName, PolicyParams };

export type Role = 'system' | 'user' | 'assistant';
export type MessageState = 'streaming' | 'done' | 'stopped' | 'error';
export type FinalMessageState = Exclude<MessageState, 'streaming'>;
export type AbVote = 'a' | 'b' | 'tie';
/** Where a chat came from: the app or the CLI, or the OpenAI-compatible server. */
export type SessionOrigin = 'app' | 'api';

export interface Model {
  id: number;
  name: string;
  dir: string;
  fingerprint: string;
  config: Record<string, unknown>;
  createdAt: number;
}

export interface NewModel {
  name: string;
  dir: string;
  fingerprint: string;
  config?: Record<string, unknown>;
}

export interface Session {
  id: number;
  name: string;
  modelId: number;
  policy: PolicyName;
  policyParams: PolicyParams;
  systemPrompt: string;
  /** Per-chat generation settings as stored ('{}' = the model's defaults); validated by the API layer. */
  generation: Record<string, unknown>;
  totalTokensSeen: number;
  createdAt: number;
  updatedAt: number;
  origin: SessionOrigin;
  /** listed first */
  pinned: boolean;
}

export interface NewSession {
  name: string;
  modelId: number;
  policy: PolicyName;
  policyParams: PolicyParams;
  systemPrompt?: string;
  /** default 'app' */
  origin?: SessionOrigin;
}

/** The start of a message, for lists; whitespace collapsed. */
export interface MessagePreview {
  id: number;
  role: Role;
  state: MessageState;
  text: string;
  createdAt: number;
}

export interface SessionSummary extends Session {
  messageCount: number;
  lastMessage: MessagePreview | null;
}

export interface Message {
  id: number;
  sessionId: number;
  /** 1, 2, 3… within the session, in the order they were written (along a branch, transcript order). */
  seq: number;
  /** The message this one follows (null: the first of its session); messages with the same parent are versions. */
  parentId: number | null;
  /** Which version it is among the messages with the same parent (oldest first), when read with them. */
  siblings?: Siblings;
  role: Role;
  text: string;
  tokenCount: number;
  state: MessageState;
  /** Speed of a generated answer (time to first token, tokens per second); null until measured. */
  stats: Record<string, unknown> | null;
  createdAt: number;
  updatedAt: number;
}

/** A message's place among its versions: `index` (0-based, oldest first) of `count`. */
export interface Siblings {
  index: number;
  count: number;
}

export interface NewMessage {
  role: Role;
  /** The message it follows; default: the head of the session's active branch (then it becomes the head). */
  parentId?: number | null;
  text: string;
  tokenCount?: number;
  /** Defaults to 'done'; an assistant reply being generated starts as 'streaming'. */
  state?: MessageState;
  /** When it was written (ms since the epoch); default now. Imported conversations keep their own times. */
  createdAt?: number;
}

/** Markers that `SearchHit.snippet` puts around matched terms (control characters, never in normal text). */
export const SNIPPET_MARK_START = '\u0002';
export const SNIPPET_MARK_END = '\u0003';

export interface SearchHit {
  sessionId: number;
  sessionName: string;
  messageId: number;
  seq: number;
  role: Role;
  /** A short excerpt, matches wrapped in SNIPPET_MARK_START/END, cuts marked with '…'. */
  snippet: string;
  createdAt: number;
}

export interface SnapshotInfo {
  id: number;
  sessionId: number;
  /** Last message the snapshot covers; null when it covers only the system prompt. */
  messageId: number | null;
  createdAt: number;
  size: number;
}

export interface StoredSnapshot extends SnapshotInfo {
  bytes: Uint8Array;
}

export interface AbRun {
  id: number;
  /** null once the session was deleted: A/B results outlive their session. */
  sessionId: number | null;
  createdAt: number;
  prompt: string;
  branchA: unknown;
  branchB: unknown;
  metrics: unknown;
  vote: AbVote | null;
  /** where the run forked from its chat; null when not recorded (older runs, runs of no chat) */
  base: AbRunBase | null;
}

/** The transcript an A/B run answered after: its last message (null: the chat was empty) and when that was written. */
export interface AbRunBase {
  messageId: number | null;
  messageCreatedAt: number | null;
}

export interface NewAbRun {
  sessionId: number | null;
  prompt: string;
  branchA: unknown;
  branchB: unknown;
  metrics: unknown;
  base?: AbRunBase | null;
}

export interface EvalRun {
  id: number;
  createdAt: number;
  kind: string;
  model: string;
  params: unknown;
  result: unknown;
}

export interface NewEvalRun {
  kind: string;
  model: string;
  params: unknown;
  result: unknown;
}
