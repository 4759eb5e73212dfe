import { restoreSnapshot, snapshotOf } from '../cache/cache-snapshot.js';
import { createPolicy } from '../cache/create-policy.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { decodePolicy, encodePolicy } from '../policy/policy-store.js';
import { decodeSnapshot, encodeSnapshot } from '../cache/snapshot-codec.js';
import type { ChatMessage } from '../engine/chat-template.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import { StreamingMessageWriter } from '../store/message-writer.js';
import type { Store } from '../store/store.js';
import type { Message, Session } from '../store/types.js';
import { ChatSession, type ChatEvent, type SendOptions } from './chat-session.js';

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
  /** how the session came back: shown to the user */
  onNotice?: (text: string) => void;
  chunk?: number;
  /** KV snapshots kept per session */
  keepSnapshots?: number;
}

/** Policy spec stored with a session, back as a PolicySpec. */
export function sessionPolicy(s: Session): PolicySpec {
  return decodePolicy(s.policy, s.policyParams);
}

/**
 * A chat session that lives in SQLite: every message is committed as it streams (at least once a second),
 * a KV snapshot is written after each turn, and reopening restores the newest snapshot and feeds whatever
 * the transcript holds beyond it. A damaged or foreign snapshot is reported and the cache is rebuilt by
 * re-prefilling the transcript — the transcript is the source of truth.
 */
export class PersistentChat {
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
    store.markInterruptedMessages();
    const modelRow = store.upsertModel({ name: model.name, dir: model.dir, fingerprint: model.fingerprint });
    const stored = encodePolicy(opts.policy ?? DEFAULT_POLICY);
    const session =
      (opts.id !== undefined ? store.getSession(opts.id) : store.getSessionByName(opts.name)) ??
      store.createSession({
        name: opts.name,
        modelId: modelRow.id,
        policy: stored.name,
        policyParams: stored.params,
        systemPrompt: opts.systemPrompt ?? '',
      });
    const engine = new Engine(model, createPolicy(sessionPolicy(session), model.config, model.kvEditor));
    const chat = new ChatSession(engine, session.systemPrompt || null, { raw: opts.raw });
    const pc = new PersistentChat(store, session, chat, opts);
    await pc.restore();
    return pc;
  }

  /** Restores the newest usable snapshot, then re-prefills what it does not cover. */
  async restore(): Promise<void> {
    this.engine.policy.reset();
    const messages = this.store.listMessages(this.session.id).filter((m) => m.state !== 'error');
    if (messages.length === 0) return;
    const transcript = messages.map(toChatMessage);
    let covered = 0;
    const snap = this.store.latestSnapshot(this.session.id);
    const started = performance.now();
    if (snap) {
      try {
        await restoreSnapshot(this.engine, decodeSnapshot(snap.bytes, { modelFingerprint: this.engine.model.fingerprint }));
        covered = snap.messageId === null ? 0 : messages.findIndex((m) => m.id === snap.messageId) + 1;
      } catch (err) {
        this.opts.onNotice?.((err as Error).message);
        this.engine.policy.reset();
        covered = 0;
      }
    }
    const rest = messages.length - covered;
    for await (const ev of this.chat.resume(transcript, covered, { maxTokens: 0, chunk: this.opts.chunk })) void ev;
    const ms = (performance.now() - started).toFixed(0);
    this.opts.onNotice?.(
      covered > 0
        ? `Resumed "${this.session.name}" from its KV snapshot${rest ? ` and re-read ${rest} newer message(s)` : ''} in ${ms} ms.`
        : `Rebuilt "${this.session.name}" by re-reading its ${messages.length} message(s) in ${ms} ms.`,
    );
  }

  /**
   * The user's turn, stored, then the answer streamed and committed at least every second. `onStart` gets
   * both stored messages before the first prefill, so a UI can show them at once.
   */
  async *send(text: string, opts: StreamOptions): AsyncGenerator<ChatEvent> {
    const user = this.store.appendMessage(this.session.id, { role: 'user', text });
    const writer = this.startAnswer();
    opts.onStart?.({ user, assistantId: writer.messageId });
    yield* this.stream(this.chat.send(text, opts), writer);
  }

  /** More of the answer without a new user turn. */
  async *continue(opts: StreamOptions): AsyncGenerator<ChatEvent> {
    const writer = this.startAnswer();
    opts.onStart?.({ user: null, assistantId: writer.messageId });
    yield* this.stream(this.chat.continue(opts), writer);
  }

  /** Drops the last answer (and the snapshots that covered it) and writes a new one after the same turn. */
  async *regenerate(opts: StreamOptions): AsyncGenerator<ChatEvent> {
    const last = this.store.listMessagesBefore(this.session.id, Number.MAX_SAFE_INTEGER, 1)[0];
    // the new answer is created first, so it never reuses the id of the one it replaces
    const writer = this.startAnswer();
    if (last?.role === 'assistant') this.store.deleteMessage(last.id);
    await this.restore();
    opts.onStart?.({ user: null, assistantId: writer.messageId });
    yield* this.stream(this.chat.continue(opts), writer);
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
  private startAnswer(): StreamingMessageWriter {
    return StreamingMessageWriter.start(this.store, this.session.id, { intervalMs: 500 });
  }

  /** Switches the cache policy: the session keeps its transcript and the cache is rebuilt under the new policy. */
  async setPolicy(spec: PolicySpec): Promise<void> {
    const { name, params } = encodePolicy(spec);
    this.session = this.store.updateSessionPolicy(this.session.id, name, params);
    this.engine.policy = createPolicy(spec, this.engine.model.config, this.engine.model.kvEditor);
    await this.restore();
  }

  private async *stream(events: AsyncGenerator<ChatEvent>, writer: StreamingMessageWriter): AsyncGenerator<ChatEvent> {
    const seenBefore = this.engine.policy.totalTokensSeen;
    try {
      for await (const ev of events) {
        // shown first, stored right after: what the database holds is always a prefix of what the user saw
        yield ev;
        if (ev.type === 'token') writer.append(ev.text, 1);
        if (ev.type === 'done') writer.finish(ev.reason === 'cancelled' ? 'stopped' : 'done');
      }
    } catch (err) {
      writer.finish(isAbort(err) ? 'stopped' : 'error');
      throw err;
    } finally {
      this.session = this.store.addTokensSeen(this.session.id, Math.max(0, this.engine.policy.totalTokensSeen - seenBefore));
    }
    await this.saveSnapshot(writer.messageId);
  }

  /** Writes the cache after a turn (one download from the GPU); the store keeps the newest few per session. */
  async saveSnapshot(messageId: number | null): Promise<void> {
    const model = this.engine.model;
    const bytes = encodeSnapshot(await snapshotOf(this.engine.policy, model.fingerprint, model.geometry, model.kvDtype));
    this.store.saveSnapshot(this.session.id, messageId, bytes, this.opts.keepSnapshots ?? 3);
  }
}

export interface StreamOptions extends SendOptions {
  onStart?: (started: { user: Message | null; assistantId: number }) => void;
}

/** An abort during prefill surfaces as an AbortError: the answer was stopped, not broken. */
function isAbort(err: unknown): boolean {
  return (err as Error)?.name === 'AbortError';
}

function toChatMessage(m: Message): ChatMessage {
  return { role: m.role, content: m.text };
}
