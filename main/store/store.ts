import type { Db } from './database.js';
import { inTransaction } from './typed-statements.js';
import { prepareStatements, type Statements } from './statements.js';
import { toAbRun, toEvalRun, toMessage, toModel, toSession, toSnapshotInfo, type SessionRow } from './rows.js';
import { SessionLocks } from './session-locks.js';
import { reclaimSpace } from './space.js';
import { MessageRemovals } from './message-removal.js';
import { Branches } from './branches.js';
import { SnapshotChunks } from './snapshot-chunks.js';
import { SnapshotBudget } from './snapshot-budget.js';
import { ChatWork } from './chat-work.js';
import { AppSettings } from './app-settings.js';
import { Presets } from './presets.js';
import { InvalidNameError, NotFoundError, SessionNameTakenError } from './errors.js';
import { searchMessages } from './search.js';
import { isShowableName, toWellFormed } from './text.js';
import {
  type AbRun,
  type AbVote,
  type EvalRun,
  type Message,
  type MessageState,
  type Model,
  type NewAbRun,
  type NewEvalRun,
  type NewMessage,
  type NewModel,
  type NewSession,
  type PolicyName,
  type PolicyParams,
  type SearchHit,
  type Session,
  type SessionSummary,
  type SnapshotInfo,
  type StoredSnapshot,
} from './types.js';

/** Characters of the last message kept for session lists. */
const PREVIEW_CHARS = 160;

/**
 * All reads and writes of the chat database, as prepared statements. Plain data in and out; one
 * instance per connection, built by the core at start and passed down.
 */
export class Store {
  private readonly s: Statements;
  /** the message tree: versions, the active branch, switching it */
  readonly branches: Branches;
  /** the chunks of chunked KV snapshots */
  readonly chunks: SnapshotChunks;
  /** the disk budget for snapshots across all chats */
  readonly snapshotBudget: SnapshotBudget;
  /** deleting one message of a chat, and putting it back */
  readonly removals: MessageRemovals;
  /** the chats the app's engine is working on, marked so a freeze in that work is known at the next start */
  readonly chatWork: ChatWork;
  /** app-wide settings (defaults for new chats, the interface language, the snapshot budget) */
  readonly settings: AppSettings;
  /** named system prompts with generation settings */
  readonly presets: Presets;

  constructor(readonly db: Db) {
    this.s = prepareStatements(db);
    this.branches = new Branches(db);
    this.chunks = new SnapshotChunks(db);
    this.removals = new MessageRemovals(db);
    this.chatWork = new ChatWork(db);
    this.settings = new AppSettings(db);
    this.snapshotBudget = new SnapshotBudget(db, this.settings);
    this.presets = new Presets(db);
  }

  // ── models ──────────────────────────────────────────────────────────────────────────────────────

  /** Inserts a model, or updates name/dir/config of the one with the same fingerprint. */
  upsertModel(m: NewModel): Model {
    return toModel(this.s.upsertModel.get(m.name, m.dir, m.fingerprint, json(m.config ?? {}), Date.now())!);
  }

  /** Removes a model from the library; refused by the database while a chat uses it. False if it did not exist. */
  deleteModel(id: number): boolean {
    return this.s.deleteModel.run(id).changes > 0;
  }

  getModel(id: number): Model | undefined {
    const row = this.s.getModel.get(id);
    return row && toModel(row);
  }

  listModels(): Model[] {
    return this.s.listModels.all().map(toModel);
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  createSession(n: NewSession): Session {
    if (!isShowableName(n.name)) throw new InvalidNameError(n.name);
    if (!this.s.getModel.get(n.modelId)) throw new NotFoundError('model', n.modelId);
    const now = this.sessionClock();
    try {
      return toSession(
        this.s.createSession.get(
          toWellFormed(n.name), n.modelId, n.policy, json(n.policyParams), toWellFormed(n.systemPrompt ?? ''), now, now, n.origin ?? 'app',
        )!,
      );
    } catch (error) {
      throw uniqueNameError(error, n.name);
    }
  }

  getSession(id: number): Session | undefined {
    const row = this.s.getSession.get(id);
    return row && toSession(row);
  }

  getSessionByName(name: string): Session | undefined {
    const row = this.s.getSessionByName.get(toWellFormed(name));
    return row && toSession(row);
  }

  /** All sessions, pinned ones first, then most recently active first, with message count and a preview of the last message. */
  listSessions(): SessionSummary[] {
    return this.s.listSessions.all().map((r) => ({
      ...toSession(r),
      messageCount: r.message_count,
      lastMessage:
        r.last_id === null
          ? null
          : {
              id: r.last_id,
              role: r.last_role as Message['role'],
              state: r.last_state as MessageState,
              text: preview(r.last_text ?? ''),
              createdAt: r.last_created_at!,
            },
    }));
  }

  updateSessionPolicy(sessionId: number, policy: PolicyName, params: PolicyParams): Session {
    const row = this.s.updateSessionPolicy.get(policy, json(params), this.sessionClock(), sessionId);
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  /** Replaces the chat's generation settings (a JSON record, '{}' = the model's defaults; validated by the API). */
  updateSessionGeneration(sessionId: number, generation: Record<string, unknown>): Session {
    return this.sessionRow(this.s.updateSessionGeneration.get(json(generation), this.sessionClock(), sessionId), sessionId);
  }

  /** Replaces the system prompt ('' = none); the caller rebuilds the cache, whose snapshots begin with the old one. */
  updateSessionSystemPrompt(sessionId: number, systemPrompt: string): Session {
    return this.sessionRow(this.s.updateSessionSystemPrompt.get(toWellFormed(systemPrompt), this.sessionClock(), sessionId), sessionId);
  }

  /** Moves a chat to another model; the caller drops its snapshots (they hold the old model's KV). */
  updateSessionModel(sessionId: number, modelId: number): Session {
    return this.sessionRow(this.s.updateSessionModel.get(modelId, this.sessionClock(), sessionId), sessionId);
  }

  /** Pins a chat (listed first) or unpins it; its last use (updated_at) stays as it was. */
  setSessionPinned(sessionId: number, pinned: boolean): Session {
    return this.sessionRow(this.s.setSessionPinned.get(pinned ? 1 : 0, sessionId), sessionId);
  }

  renameSession(sessionId: number, name: string): Session {
    if (!isShowableName(name)) throw new InvalidNameError(name);
    let row: SessionRow | undefined;
    try {
      row = this.s.renameSession.get(toWellFormed(name), this.sessionClock(), sessionId);
    } catch (error) {
      throw uniqueNameError(error, name);
    }
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  /** Deletes a session with its messages and snapshots; its A/B runs stay. False if it did not exist. */
  deleteSession(sessionId: number): boolean {
    const deleted = this.s.deleteSession.run(sessionId).changes > 0;
    if (deleted) reclaimSpace(this.db); // its messages and snapshots give their pages back to the disk
    return deleted;
  }

  addTokensSeen(sessionId: number, tokens: number): Session {
    if (!Number.isSafeInteger(tokens) || tokens < 0) {
      throw new RangeError(`addTokensSeen expects a non-negative integer, got ${tokens}.`);
    }
    const row = this.s.addTokensSeen.get(tokens, this.sessionClock(), sessionId);
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  /**
   * The time a chat is stamped with when it changes: now, but never at or below the newest stamp, so a clock set
   * back (by hand, or by a sync) cannot sort the chat being used below the others (the list is newest first).
   */
  private sessionClock(): number {
    return Math.max(Date.now(), this.s.latestSessionUpdate.get()!.latest + 1);
  }

  private sessionRow(row: SessionRow | undefined, sessionId: number): Session {
    if (!row) throw new NotFoundError('session', sessionId);
    return toSession(row);
  }

  // ── messages ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Appends a message after the head of the session's active branch, or after `m.parentId` (a new version of the
   * message that follows it); either way it becomes the head. Text is stored well-formed (see text.ts).
   */
  appendMessage(sessionId: number, m: NewMessage): Message {
    return inTransaction(this.db, () => {
      const now = this.sessionClock();
      if (this.s.touchSession.run(now, sessionId).changes === 0) throw new NotFoundError('session', sessionId);
      const parentId = m.parentId ?? null;
      if (parentId !== null && this.s.getMessage.get(parentId)?.session_id !== sessionId) throw new NotFoundError('message', parentId);
      const [text, tokenCount, state, atHead] = [toWellFormed(m.text), m.tokenCount ?? 0, m.state ?? 'done', m.parentId === undefined ? 1 : 0];
      const row = this.s.appendMessage.get({ sessionId, role: m.role, text, tokenCount, state, now, createdAt: m.createdAt ?? now, atHead, parentId })!;
      this.s.setHead.run(row.id, sessionId);
      return toMessage(this.s.getMessage.get(row.id)!);
    });
  }

  getMessage(id: number): Message | undefined {
    const row = this.s.getMessage.get(id);
    return row && toMessage(row);
  }

  /** Replaces a message's text and state (token count too, when given). The search index follows. */
  updateMessageText(id: number, text: string, state: MessageState, tokenCount?: number): Message {
    return inTransaction(this.db, () => {
      const row = this.s.updateMessageText.get(toWellFormed(text), state, tokenCount ?? null, Date.now(), id);
      if (!row) throw new NotFoundError('message', id);
      this.s.touchSession.run(this.sessionClock(), row.session_id);
      return toMessage(row);
    });
  }

  /**
   * The text so far of an answer that streams (its state stays as it is). The session is touched when the answer
   * starts and when it ends, not at each of these commits: a touch rewrites the session's row and its index entry.
   */
  streamMessageText(id: number, text: string, tokenCount: number): Message {
    const row = this.s.streamMessageText.get(toWellFormed(text), tokenCount, Date.now(), id);
    if (!row) throw new NotFoundError('message', id);
    return toMessage(row);
  }

  /** The transcript (the active branch) in order; `afterSeq`/`limit` page through long sessions. */
  listMessages(sessionId: number, page: { afterSeq?: number; limit?: number } = {}): Message[] {
    const first = !page.afterSeq && page.limit !== undefined && page.limit > 0 ? this.branches.firstMessages(sessionId, page.limit) : undefined;
    return first ?? this.s.listMessages.all({ sessionId, afterSeq: page.afterSeq ?? 0, limit: page.limit ?? -1 }).map(toMessage);
  }

  /** The `limit` messages of the active branch just before `beforeSeq`, oldest first (paging back through a long session). */
  listMessagesBefore(sessionId: number, beforeSeq: number, limit: number): Message[] {
    return this.s.listMessagesBefore.all({ sessionId, beforeSeq, limit }).map(toMessage);
  }

  /** Removes one message with the replies that follow it (branches.ts). */
  deleteMessage(id: number): boolean {
    return this.branches.deleteMessage(id);
  }

  /** Records how fast an answer came (time to first token, tokens per second); the text stays untouched. */
  setMessageStats(id: number, stats: Record<string, unknown>): void {
    if (this.s.setMessageStats.run(json(stats), id).changes === 0) throw new NotFoundError('message', id);
  }

  /** Changes only a message's state (its text, and so the search index, stay untouched). */
  setMessageState(id: number, state: MessageState): void {
    if (this.s.setMessageState.run(state, Date.now(), id).changes === 0) throw new NotFoundError('message', id);
  }

  /**
   * Marks replies that were still streaming (a crash interrupted them) as stopped; returns how many. Sessions
   * another live process holds (session-locks.ts) are still streaming there, and are left alone.
   */
  markInterruptedMessages(): number {
    const live = [...new SessionLocks(this.db).heldElsewhere()];
    return this.s.markInterrupted.run(Date.now(), JSON.stringify(live)).changes;
  }

  /**
   * Search over all transcripts (or one session): any substring of 1+ characters, in any script (search.ts).
   * Any input is safe: it is searched as text, never parsed as FTS5 syntax (see fts-query.ts).
   */
  search(text: string, options: { sessionId?: number; limit?: number } = {}): SearchHit[] {
    return searchMessages(this.s, text, options);
  }

  // ── KV snapshots ────────────────────────────────────────────────────────────────────────────────

  /** Stores a snapshot and keeps only the newest `keep` of the session. */
  saveSnapshot(sessionId: number, messageId: number | null, bytes: Uint8Array, keep = 3): SnapshotInfo {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`saveSnapshot keeps at least 1 snapshot, got ${keep}.`);
    return inTransaction(this.db, () => {
      if (!this.s.getSession.get(sessionId)) throw new NotFoundError('session', sessionId);
      if (messageId !== null && this.s.getMessage.get(messageId)?.session_id !== sessionId) {
        throw new NotFoundError('message', messageId);
      }
      // A view, not a copy: snapshots can be hundreds of MB.
      const blob = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const row = this.s.insertSnapshot.get(sessionId, messageId, Date.now(), blob, bytes.byteLength)!;
      this.s.pruneSnapshots.run({ sessionId, keep });
      return toSnapshotInfo(row);
    });
  }

  latestSnapshot(sessionId: number): StoredSnapshot | undefined {
    const row = this.s.latestSnapshot.get(sessionId);
    return row && { ...toSnapshotInfo(row), bytes: row.bytes! };
  }

  getSnapshot(id: number): StoredSnapshot | undefined {
    const row = this.s.getSnapshot.get(id);
    return row && { ...toSnapshotInfo(row), bytes: row.bytes! };
  }

  /** Removes a snapshot that cannot be used, so it never stands in the way of a session again. */
  deleteSnapshot(id: number): boolean {
    return this.s.deleteSnapshot.run(id).changes > 0;
  }

  /** Removes every snapshot of a session (they no longer match its cache, e.g. after a new system prompt). */
  deleteSnapshots(sessionId: number): number {
    return this.s.deleteSnapshots.run(sessionId).changes;
  }

  /** Newest first, without the bytes. */
  listSnapshots(sessionId: number): SnapshotInfo[] {
    return this.s.listSnapshots.all(sessionId).map(toSnapshotInfo);
  }

  // ── A/B runs and evals ──────────────────────────────────────────────────────────────────────────

  recordAbRun(r: NewAbRun): AbRun {
    return toAbRun(
      this.s.recordAbRun.get(r.sessionId, Date.now(), toWellFormed(r.prompt), json(r.branchA), json(r.branchB), json(r.metrics), r.base ? json(r.base) : null)!,
    );
  }

  getAbRun(id: number): AbRun {
    const row = this.s.getAbRun.get(id);
    if (!row) throw new NotFoundError('A/B run', id);
    return toAbRun(row);
  }

  /** Newest first; all sessions when `sessionId` is omitted. */
  listAbRuns(sessionId?: number): AbRun[] {
    return this.s.listAbRuns.all({ sessionId: sessionId ?? null }).map(toAbRun);
  }

  /** Records (or with null, clears) the user's preference. */
  voteAbRun(id: number, vote: AbVote | null): AbRun {
    const row = this.s.voteAbRun.get(vote, id);
    if (!row) throw new NotFoundError('A/B run', id);
    return toAbRun(row);
  }

  recordEvalRun(r: NewEvalRun): EvalRun {
    return toEvalRun(this.s.recordEvalRun.get(Date.now(), r.kind, r.model, json(r.params), json(r.result))!);
  }

  /** Newest first; all kinds when `kind` is omitted. */
  listEvalRuns(kind?: string): EvalRun[] {
    return this.s.listEvalRuns.all({ kind: kind ?? null }).map(toEvalRun);
  }
}

/** JSON for a JSON column; `undefined` (not representable) becomes null. */
function json(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

function preview(text: string): string {
  const flat = text.replace(/\s+/gu, ' ').trim();
  if (flat.length <= PREVIEW_CHARS) return flat;
  // Do not cut a surrogate pair in half.
  let end = PREVIEW_CHARS;
  const c = flat.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${flat.slice(0, end)}…`;
}

function uniqueNameError(error: unknown, name: string): unknown {
  const code = (error as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' ? new SessionNameTakenError(name) : error;
}
