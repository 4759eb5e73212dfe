import { cacheRowsOf, snapshotOf } from '../cache/cache-snapshot.js';
import { createPolicy } from '../cache/create-policy.js';
import { defaultPolicyFor, type PolicySpec } from '../policy/policy.js';
import { decodePolicy, encodePolicy } from '../policy/policy-store.js';
import { ChunkLedger, type ChunkedSave } from '../cache/chunk-ledger.js';
import { encodeSnapshot } from '../cache/snapshot-codec.js';
import type { SnapshotManifest } from '../cache/snapshot-manifest.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import { StreamingMessageWriter } from '../store/message-writer.js';
import { inTransaction } from '../store/typed-statements.js';
import { SessionLocks } from '../store/session-locks.js';
import { MissingChunkError } from '../store/snapshot-chunks.js';
import { CacheNotSavedError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import type { MessageRemoval } from '../store/message-removal.js';
import type { Message, Session } from '../store/types.js';
import { AnswerCheckpoints } from './answer-checkpoints.js';
import { ChatSession, type ChatEvent, type SendOptions } from './chat-session.js';
import { isInContext, readTranscript, type ReadOptions, type RebuildOptions, type TranscriptRead } from './transcript-read.js';
import { PerpetuaError } from '../shared/errors.js';
import { cpuWaitMs } from '../shared/cpu-wait.js';
import type { RestoreReport } from './restore-report.js';

export { describeRestore, type RestoreReport } from './restore-report.js';

export interface OpenChatOptions {
  /** session to open or create */
  name: string;
  /** open exactly this session (the app works with ids; names can be renamed) */
  id?: number;
  /** policy for a new session (an existing one keeps its own) */
  policy?: PolicySpec;
  systemPrompt?: string;
  /** raw text continuation instead of the chat template */
  raw?: boolean;
  chunk?: number;
  /** KV snapshots kept per session */
  keepSnapshots?: number;
  /** what holds the session's lock, as another process is told (e.g. "perpetua chat") */
  holder?: string;
  /**
   * 'full': every save writes the whole cache (format version 1), as before chunked snapshots; 'none': no snapshots
   * (reopening re-reads the transcript). Benchmarks compare them.
   */
  snapshotFormat?: 'chunked' | 'full' | 'none';
  /** an answer's KV is checkpointed every this many tokens while it streams (chunked snapshots; 0: never) */
  checkpointTokens?: number;
  /** bytes all chats' snapshots may take (default: the app's setting, see snapshot-budget.ts): the least recently used chats' go first */
  snapshotBudget?: number;
}

/** What the last snapshot save cost: bytes handed to the store, KV rows written, and time. */
export interface SaveCost {
  bytes: number;
  rows: number;
  /** from start to end (the core serves other work between its steps) */
  ms: number;
  /** the longest step the core's thread spent without a break (what it blocks everything else for), wall clock */
  longestStepMs: number;
  /** the CPU time of the step that used the most (a busy machine stretches wall-clock steps); the process's, all threads */
  longestStepCpuMs: number;
  /** how long the longest step waited for a CPU (another process had it), ms; 0 where the system does not say */
  longestStepWaitMs: number;
}

/** Policy spec stored with a session, back as a PolicySpec. */
export function sessionPolicy(s: Session): PolicySpec {
  return decodePolicy(s.policy, s.policyParams);
}

/** What a stored answer streams: the stored messages first, then the chat's events. */
export type SessionEvent = ChatEvent | { type: 'started'; user: Message | null; assistant: Message; replaced: number | null };

/**
 * A chat session that lives in SQLite: every message is committed as it streams (at least once a second),
 * a KV snapshot is written after each turn, and reopening restores the newest snapshot and feeds whatever
 * the transcript holds beyond it. A damaged or foreign snapshot is reported and the cache is rebuilt by
 * re-prefilling the transcript — the transcript is the source of truth.
 */
export class PersistentChat {
  /** how the cache came back when the session was last opened or rebuilt */
  restored: RestoreReport = { kind: 'empty', reread: 0, ms: 0, refused: null };
  /** what of the cache is stored in snapshot chunks already (a save appends only the rest) */
  private ledger: ChunkLedger | null = null;
  /** what the last save cost (null before the first) */
  lastSave: SaveCost | null = null;

  private constructor(
    readonly store: Store,
    public session: Session,
    public chat: ChatSession,
    private readonly opts: OpenChatOptions,
  ) {}

  get engine(): Engine {
    return this.chat.engine;
  }

  static async open(store: Store, model: Model, opts: OpenChatOptions): Promise<PersistentChat> {
    const stored = encodePolicy(opts.policy ?? defaultPolicyFor(model.config.maxPositions));
    const session =
      (opts.id !== undefined ? store.getSession(opts.id) : store.getSessionByName(opts.name)) ??
      store.createSession({
        name: opts.name,
        modelId: modelRowOf(store, model).id,
        policy: stored.name,
        policyParams: stored.params,
        systemPrompt: opts.systemPrompt ?? '',
      });
    // one writer per session across processes: a second one would write snapshots that contradict the first's
    new SessionLocks(store.db).acquire(session.id, session.name, opts.holder ?? 'Perpetua');
    const engine = new Engine(model, createPolicy(sessionPolicy(session), model.config, model.kvEditor));
    const chat = new ChatSession(engine, session.systemPrompt || null, { raw: opts.raw });
    const pc = new PersistentChat(store, session, chat, opts);
    try {
      await pc.restore();
    } catch (err) {
      pc.close();
      throw err;
    }
    return pc;
  }

  /** Gives the session back to other processes. */
  close(): void {
    new SessionLocks(this.store.db).release(this.session.id);
  }

  /**
   * Brings the cache to the transcript (the active branch): the snapshot that covers most of it, then a re-prefill of
   * what it does not cover. `fork`: a snapshot of another policy is derived into this one's (forkCache).
   */
  restore(fork = false): Promise<RestoreReport> {
    return this.restoreTo(this.store.listMessages(this.session.id), fork);
  }

  /** Brings the cache to exactly `branch` (a path from the first message), as `restore` does. */
  private async restoreTo(branch: Message[], fork: boolean): Promise<RestoreReport> {
    const messages = branch.filter(isInContext);
    if (messages.length === 0) this.chat = new ChatSession(this.engine, this.session.systemPrompt || null, { raw: this.opts.raw });
    const read = await readTranscript(this.store, this.session.id, this.chat, messages, { fork, chunk: this.opts.chunk });
    this.followCache(read.base);
    return (this.restored = read.report);
  }

  /**
   * Brings the cache to the active branch up to (and with) `messageId`, where the new version `writer` writes forks;
   * when that fails, the new version ends as an error.
   */
  private async restoreToForkPoint(messageId: number | null, writer: StreamingMessageWriter): Promise<void> {
    const branch = this.store.listMessages(this.session.id);
    try {
      await this.restoreTo(messageId === null ? [] : branch.slice(0, branch.findIndex((m) => m.id === messageId) + 1), true);
    } catch (err) {
      writer.finish('error');
      throw err;
    }
    this.countBranchTokens();
  }

  /** What the conversation has seen is what its branch shown has (what the model still sees is measured against it). */
  private countBranchTokens(): void {
    this.session = this.store.branches.setTokensSeen(this.session.id, this.engine.policy.totalTokensSeen);
  }

  /**
   * The user's turn, stored, then the answer streamed and committed at least every half second. The first event
   * holds both stored messages (before the first prefill), so a UI can show them at once and in order.
   */
  async *send(text: string, opts: SendOptions): AsyncGenerator<SessionEvent> {
    const [user, writer] = this.withAnswer(() => this.store.appendMessage(this.session.id, { role: 'user', text }));
    yield { type: 'started', user, assistant: this.store.getMessage(writer.messageId)!, replaced: null };
    yield* this.answerTurn(user, writer, opts);
  }

  /**
   * A new version of a user message (the old one stays, on its own branch): stored beside it, the cache brought back
   * to where they fork (from a snapshot where one fits), then answered as a new turn.
   */
  async *edit(messageId: number, text: string, opts: SendOptions): AsyncGenerator<SessionEvent> {
    const old = this.ownMessage(messageId, 'user');
    const [user, writer] = this.withAnswer(() => this.store.appendMessage(this.session.id, { role: 'user', text, parentId: old.parentId }));
    yield { type: 'started', user: this.store.getMessage(user.id)!, assistant: this.store.getMessage(writer.messageId)!, replaced: old.id };
    await this.restoreToForkPoint(old.parentId, writer);
    yield* this.answerTurn(user, writer, opts);
  }

  /**
   * A new turn after messages the chat did not hold (an API client's own history): `extras` are stored after `forkAfter`
   * (undefined: the head; null: the start, a new first message), so a fork becomes a branch; the cache is brought to
   * them (from a snapshot where one fits), then the turn is answered.
   */
  async *sendAfter(forkAfter: number | null | undefined, extras: { role: Message['role']; text: string }[], text: string, opts: SendOptions): AsyncGenerator<SessionEvent> {
    const [user, writer] = this.withAnswer(() => {
      let parentId = forkAfter;
      for (const m of extras) parentId = this.store.appendMessage(this.session.id, { role: m.role, text: m.text, parentId }).id;
      return this.store.appendMessage(this.session.id, { role: 'user', text, parentId });
    });
    yield { type: 'started', user: this.store.getMessage(user.id)!, assistant: this.store.getMessage(writer.messageId)!, replaced: null };
    await this.restoreToForkPoint(user.parentId, writer);
    yield* this.answerTurn(user, writer, opts);
  }

  private async *answerTurn(user: Message, writer: StreamingMessageWriter, opts: SendOptions): AsyncGenerator<SessionEvent> {
    try {
      yield* this.stream(this.chat.send(user.text, opts), writer, user.id);
    } catch (err) {
      // Stopped while reading the message: it stays in the transcript, marked stopped and left out of the
      // model's context, and the cache goes back to what the transcript without it says.
      if (isAbort(err)) {
        this.store.setMessageState(user.id, 'stopped');
        await this.restore();
      }
      throw err;
    }
  }

  /** More of the answer without a new user turn. */
  async *continue(opts: SendOptions): AsyncGenerator<SessionEvent> {
    const writer = this.startAnswer();
    yield { type: 'started', user: null, assistant: this.store.getMessage(writer.messageId)!, replaced: null };
    yield* this.stream(this.chat.continue(opts), writer);
  }

  /**
   * A new version of an answer (`messageId`, default the last one; the old one stays, on its own branch), written after
   * the same turn once the cache is back where they fork. When the last message is a turn without an answer, it answers it.
   */
  async *regenerate(opts: SendOptions, messageId?: number): AsyncGenerator<SessionEvent> {
    const target = messageId === undefined ? this.store.listMessagesBefore(this.session.id, Number.MAX_SAFE_INTEGER, 1)[0] : this.ownMessage(messageId, 'assistant');
    if (!target) throw new PerpetuaError('There is no answer to regenerate yet.', { code: 'invalid_input' });
    const replaced = target.role === 'assistant' ? target.id : null;
    const forkPoint = replaced === null ? target.id : target.parentId;
    const writer = this.startAnswer(forkPoint);
    yield { type: 'started', user: null, assistant: this.store.getMessage(writer.messageId)!, replaced };
    await this.restoreToForkPoint(forkPoint, writer);
    yield* this.stream(this.chat.continue(opts), writer);
  }

  /**
   * Shows another branch: `messageId`'s version `version` (0-based; default itself) and the newest messages under it. The
   * cache is rebuilt for it from a snapshot of that branch where one fits. Null when that branch is shown already.
   */
  async showBranch(messageId: number, version?: number): Promise<RestoreReport | null> {
    const own = this.ownMessage(messageId);
    const target = version === undefined ? own : this.store.branches.version(messageId, version);
    if (!this.store.branches.showBranchOf(this.session.id, target.id)) return null;
    const report = await this.restore(true);
    this.countBranchTokens();
    return report;
  }

  /**
   * Deletes one message (store/message-removal.ts says which go with it). The chat's snapshots go in the same
   * transaction and the cache is re-read from the transcript, so nothing of the message's text stays in the KV.
   */
  async removeMessage(messageId: number): Promise<MessageRemoval> {
    this.ownMessage(messageId);
    const removal = this.store.removals.remove(messageId);
    await this.restore();
    this.countBranchTokens();
    return removal;
  }

  /** Puts a deleted message back (undo; refused once the chat moved on) and re-reads the transcript with it. */
  async restoreMessage(removal: MessageRemoval): Promise<void> {
    if (removal.sessionId !== this.session.id) throw new PerpetuaError('That message is not part of this chat.', { code: 'not_found' });
    this.store.removals.restore(removal);
    await this.restore();
    this.countBranchTokens();
  }

  /** A message of this session (of that role, when given), or a clear refusal. */
  private ownMessage(id: number, role?: Message['role']): Message {
    const m = this.store.getMessage(id);
    if (!m || m.sessionId !== this.session.id) throw new PerpetuaError('That message is not part of this chat.', { code: 'not_found' });
    if (role && m.role !== role) {
      throw new PerpetuaError(role === 'user' ? 'Only your own messages can be edited.' : 'Only answers can be regenerated.', { code: 'invalid_input' });
    }
    return m;
  }

  /**
   * Continues the session from an A/B branch: its prompt and answer join the transcript, its policy becomes the
   * session's, and its cache (already holding both) replaces the session's.
   */
  async adoptBranch(branch: ChatSession, prompt: string, answer: string): Promise<void> {
    const { name, params } = encodePolicy(branch.engine.policy.spec);
    const seenBefore = this.engine.policy.totalTokensSeen;
    this.store.appendMessage(this.session.id, { role: 'user', text: prompt });
    const reply = this.store.appendMessage(this.session.id, { role: 'assistant', text: answer });
    this.session = this.store.updateSessionPolicy(this.session.id, name, params);
    this.chat = branch;
    this.session = this.store.addTokensSeen(this.session.id, Math.max(0, branch.engine.policy.totalTokensSeen - seenBefore));
    await this.saveSnapshot(reply.id);
  }

  /**
   * A new streaming answer. Committed every half second: with a slow token or a busy machine in between, text
   * reaches the disk well inside the one-second promise.
   */
  private startAnswer(parentId?: number | null): StreamingMessageWriter {
    return StreamingMessageWriter.start(this.store, this.session.id, { intervalMs: 500, parentId });
  }

  /** The user's turn (`store` writes it) and the empty answer after it, in one commit: the pages both touch are written once. */
  private withAnswer(store: () => Message): [Message, StreamingMessageWriter] {
    return inTransaction(this.store.db, () => {
      const user = store();
      return [user, this.startAnswer()];
    });
  }

  /**
   * Continues the session from an A/B answer whose cache is gone (the core restarted since the run): the prompt and
   * answer join the transcript, and a cache under `spec` is read for it (from the newest snapshot, derived into that
   * policy, and a re-read of the rest). Only then does the policy change; stopped or failed, the two messages go again
   * and the session is as it was.
   */
  async adoptAnswer(prompt: string, answer: string, spec: PolicySpec, opts: RebuildOptions = {}): Promise<RestoreReport> {
    const seenBefore = this.engine.policy.totalTokensSeen;
    const user = this.store.appendMessage(this.session.id, { role: 'user', text: prompt });
    this.store.appendMessage(this.session.id, { role: 'assistant', text: answer });
    let report: RestoreReport;
    try {
      report = await this.rebuild(spec, this.session.systemPrompt, { ...opts, fork: true, keepRefused: true }, () => {
        const { name, params } = encodePolicy(spec);
        this.session = this.store.updateSessionPolicy(this.session.id, name, params);
      });
    } catch (err) {
      this.store.branches.deleteMessage(user.id);
      throw err;
    }
    this.addTokensSeen(seenBefore);
    return report;
  }

  /**
   * Switches the cache policy: the session keeps its transcript and a new cache is built beside the old one by
   * re-reading it under the new policy. Only once that is done does the switch take effect (stored, the old cache
   * disposed, a snapshot of the new one written); stopped or failed before, the new cache is disposed and the
   * session is exactly as it was.
   */
  async setPolicy(spec: PolicySpec, opts: RebuildOptions = {}): Promise<RestoreReport> {
    return this.rebuild(spec, this.session.systemPrompt, { ...opts, keepRefused: true }, () => {
      const { name, params } = encodePolicy(spec);
      this.session = this.store.updateSessionPolicy(this.session.id, name, params);
    });
  }

  /**
   * Replaces the system prompt: the cache is rebuilt from the transcript after it (the prompt is the start of the
   * cache, so no snapshot fits). Once it is read, the old prompt's snapshots are dropped before the new prompt is
   * stored, so a crash in between leaves a session that rebuilds from its transcript, never one that resumes the
   * old prompt's cache; a stopped or failed rebuild leaves the old prompt and cache as they were.
   */
  async setSystemPrompt(text: string, opts: RebuildOptions = {}): Promise<RestoreReport> {
    return this.rebuild(this.engine.policy.spec, text, { ...opts, noSnapshot: true }, () => {
      this.store.deleteSnapshots(this.session.id);
      this.session = this.store.updateSessionSystemPrompt(this.session.id, text);
    });
  }

  /**
   * Reads the transcript into a new cache under `spec` after `systemPrompt`. Only once it is read does `commit`
   * store the change and the new cache replace the old one (disposed: its KV may hold GPU memory).
   */
  private async rebuild(spec: PolicySpec, systemPrompt: string, opts: ReadOptions, commit: () => void): Promise<RestoreReport> {
    const model = this.engine.model;
    const chat = new ChatSession(new Engine(model, createPolicy(spec, model.config, model.kvEditor)), systemPrompt || null, { raw: this.opts.raw });
    let read: TranscriptRead;
    try {
      const messages = this.store.listMessages(this.session.id).filter(isInContext);
      read = await readTranscript(this.store, this.session.id, chat, messages, { ...opts, chunk: this.opts.chunk });
    } catch (err) {
      chat.engine.policy.dispose();
      throw err;
    }
    commit();
    const old = this.chat;
    this.chat = chat;
    old.engine.policy.dispose();
    this.followCache(read.base);
    if (read.report.kind !== 'empty') await this.saveSnapshot(read.lastId);
    return (this.restored = read.report);
  }

  /**
   * `readTurn`: the user message being read; after a long one the cache is saved before the answer starts. A long
   * answer is checkpointed as it streams (every `checkpointTokens` tokens): its text so far is committed, then a
   * snapshot that covers that much of it, so a crash mid-answer resumes from there instead of re-reading the transcript.
   */
  private async *stream(events: AsyncGenerator<ChatEvent>, writer: StreamingMessageWriter, readTurn?: number): AsyncGenerator<SessionEvent> {
    const seenBefore = this.engine.policy.totalTokensSeen;
    const every = this.opts.checkpointTokens ?? CHECKPOINT_TOKENS;
    const checkpoints = every > 0 && (this.opts.snapshotFormat ?? 'chunked') === 'chunked';
    const follow = () => (checkpoints ? new AnswerCheckpoints(this.engine.policy, this.engine.model.tokenizer, every) : null);
    let answer = follow();
    let shown = '';
    let read = 0;
    let counted = false;
    try {
      for await (const ev of events) {
        if (ev.type === 'prefill') {
          read = ev.total;
          answer = follow(); // the answer starts after the turn is read
        }
        // The first token is not fed yet: the cache holds exactly the transcript up to the user's turn, so a
        // reopen before this answer completes does not read a long paste again.
        else if (ev.type === 'token' && readTurn !== undefined && read >= SNAPSHOT_AFTER_READING) {
          await this.saveSnapshot(readTurn);
          read = 0;
        }
        // shown first, stored right after: what the database holds is always a prefix of what the user saw
        yield ev;
        if (ev.type === 'token') {
          writer.append(ev.text, 1);
          shown += ev.text;
          answer?.observe();
          const covered = answer?.due(shown) ?? null;
          if (covered !== null) {
            writer.flush(); // the checkpoint never covers more than the transcript holds (a failed commit ends the answer)
            try {
              await this.saveSnapshot(writer.messageId, covered);
              answer!.taken();
            } catch {
              // a checkpoint is a spare: the answer goes on without them (a full disk is the writer's to report)
              answer = null;
            }
          }
        }
        if (ev.type === 'done') {
          writer.finish(ev.reason === 'cancelled' ? 'stopped' : 'done', () => this.addTokensSeen(seenBefore));
          counted = true;
        }
      }
    } catch (err) {
      // a store that failed once (disk full) may fail again: the first error is the one to report
      attempt(() => writer.finish(isAbort(err) ? 'stopped' : 'error'));
      if (!counted) attempt(() => this.addTokensSeen(seenBefore));
      throw err;
    }
    try {
      if (!counted) this.addTokensSeen(seenBefore);
      await this.saveSnapshot(writer.messageId);
    } catch (err) {
      // the answer is stored as it ended and stays so: only the cache's copy is missing (a reopen re-reads it)
      throw new CacheNotSavedError(err);
    }
  }

  private addTokensSeen(seenBefore: number): void {
    this.session = this.store.addTokensSeen(this.session.id, Math.max(0, this.engine.policy.totalTokensSeen - seenBefore));
  }

  /** A cache just read anew (from `base`, a chunked snapshot, or from nothing): what is stored of it. */
  private followCache(base: SnapshotManifest | null): void {
    const policy = this.engine.policy;
    this.ledger = base ? ChunkLedger.fromManifest(policy, base) : new ChunkLedger(policy);
  }

  /**
   * Writes the cache after a turn (or as a checkpoint mid-answer: `coveredChars` of message `messageId`) as a chunked
   * snapshot: chunks with the KV of the tokens not stored yet (the turn's, and the live rows of mostly dead chunks),
   * then a manifest. It runs in short steps with the core's thread free in between; the caller awaits it, so the cache
   * does not change meanwhile. The store keeps the newest few manifests per session and the chunks they name, and all
   * chats' snapshots within the disk budget.
   */
  async saveSnapshot(messageId: number | null, coveredChars?: number): Promise<void> {
    if (this.opts.snapshotFormat === 'none') return;
    const model = this.engine.model;
    const policy = this.engine.policy;
    const keep = this.opts.keepSnapshots ?? 3;
    const started = performance.now();
    const startTime = { cpu: process.cpuUsage(), waitMs: cpuWaitMs() };
    if (this.opts.snapshotFormat === 'full') {
      const bytes = encodeSnapshot(await snapshotOf(policy, model.fingerprint, model.geometry, model.kvDtype, model.kvEditor));
      this.store.saveSnapshot(this.session.id, messageId, bytes, keep);
      this.store.snapshotBudget.enforce(this.opts.snapshotBudget ?? this.store.snapshotBudget.budget(), this.session.id);
      const [ms, cpu] = [performance.now() - started, process.cpuUsage(startTime.cpu)];
      this.lastSave = { bytes: bytes.byteLength, rows: policy.length, ms, longestStepMs: ms, longestStepCpuMs: (cpu.user + cpu.system) / 1000, longestStepWaitMs: cpuWaitMs() - startTime.waitMs };
      return;
    }
    // another cache than the ledger follows (an adopted A/B branch): nothing of it is stored yet
    if (this.ledger?.owner !== policy) this.ledger = new ChunkLedger(policy);
    // the save runs in steps (read and encode a piece, store it) with the core's thread free in between
    let longest = 0;
    let longestCpu = 0;
    let longestWait = 0;
    let stepStart = started;
    let stepTime = startTime;
    const endStep = () => {
      const ms = performance.now() - stepStart;
      const cpu = process.cpuUsage(stepTime.cpu);
      if (ms > longest) [longest, longestWait] = [ms, cpuWaitMs() - stepTime.waitMs];
      longestCpu = Math.max(longestCpu, (cpu.user + cpu.system) / 1000);
    };
    const pause = async () => {
      endStep();
      await new Promise((r) => setImmediate(r));
      stepStart = performance.now();
      stepTime = { cpu: process.cpuUsage(), waitMs: cpuWaitMs() };
    };
    const write = async (ledger: ChunkLedger): Promise<ChunkedSave> => {
      const save = await ledger.plan(cacheRowsOf(policy, model.fingerprint, model.geometry, model.kvDtype, model.kvEditor), { coveredChars, pause });
      // the last piece goes with the manifest: one transaction fewer, so the pages both touch are written once
      const last = save.added.at(-1);
      for (const chunk of save.added.slice(0, -1)) {
        await pause();
        this.store.chunks.add(this.session.id, chunk);
      }
      await pause();
      this.store.chunks.save(this.session.id, messageId, { ...save, added: last ? [last] : [] }, keep);
      return save;
    };
    let save: ChunkedSave;
    try {
      save = await write(this.ledger);
    } catch (err) {
      if (!(err instanceof MissingChunkError)) throw err;
      // a chunk it builds on was dropped meanwhile: this save writes the whole cache
      this.ledger = new ChunkLedger(policy);
      save = await write(this.ledger);
    }
    this.ledger.commit(save);
    await pause();
    this.store.snapshotBudget.enforce(this.opts.snapshotBudget ?? this.store.snapshotBudget.budget(), this.session.id);
    endStep();
    const bytes = save.manifest.byteLength + save.added.reduce((n, c) => n + c.bytes.byteLength, 0);
    this.lastSave = { bytes, rows: save.rowsWritten, ms: performance.now() - started, longestStepMs: longest, longestStepCpuMs: longestCpu, longestStepWaitMs: longestWait };
  }
}

/** An answer is checkpointed every this many tokens (a few hundred: a crash re-reads at most that much of it). */
const CHECKPOINT_TOKENS = 256;

/** Reading a user turn of at least this many tokens is worth a snapshot before the answer starts. */
const SNAPSHOT_AFTER_READING = 2048;

function attempt(write: () => unknown): void {
  try {
    write();
  } catch {
    // reported by the caller's own error
  }
}

/** An abort during prefill surfaces as an AbortError: the answer was stopped, not broken. */
function isAbort(err: unknown): boolean {
  return (err as Error)?.name === 'AbortError';
}

/** The store's row of the loaded model (added when the library does not know it yet), config left as it is. */
function modelRowOf(store: Store, model: Model) {
  return store.listModels().find((m) => m.fingerprint === model.fingerprint) ?? store.upsertModel({ name: model.name, dir: model.dir, fingerprint: model.fingerprint });
}
