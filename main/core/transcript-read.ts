import type { ChatMessage } from '../engine/chat-template.js';
import type { Store } from '../store/store.js';
import type { Message } from '../store/types.js';
import type { ChatSession } from './chat-session.js';
import type { RestoreReport } from './restore-report.js';
import { restoreNewestSnapshot } from './snapshot-restore.js';
import type { SnapshotManifest } from '../cache/snapshot-manifest.js';

/** A cache rebuilt from the transcript reports its progress (tokens read of the total) and can be stopped. */
export interface RebuildOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface ReadOptions extends RebuildOptions {
  /** tokens per prefill run */
  chunk?: number;
  /** a snapshot of another policy is derived into this one's (forkCache) */
  fork?: boolean;
  /** refused snapshots stay in the store (a policy switch that may still be cancelled keeps what the old policy resumes from) */
  keepRefused?: boolean;
  /** no snapshot fits (they begin with another system prompt): the whole transcript is read */
  noSnapshot?: boolean;
}

/** How a cache was brought to a transcript, the last message it holds, and the chunked snapshot it started from. */
export interface TranscriptRead {
  report: RestoreReport;
  lastId: number | null;
  /** the manifest the cache was restored from (its rows are stored already); null when none or a full snapshot */
  base: SnapshotManifest | null;
}

/**
 * Brings `chat`'s cache to `messages` (in context, in order) of a session: the snapshot that covers most of them,
 * then a re-read of the rest. Returns how, and the last message the cache now holds.
 */
export async function readTranscript(
  store: Store,
  sessionId: number,
  chat: ChatSession,
  messages: Message[],
  opts: ReadOptions,
): Promise<TranscriptRead> {
  chat.engine.policy.reset();
  if (messages.length === 0) return { report: { kind: 'empty', reread: 0, ms: 0, refused: null }, lastId: null, base: null };
  const transcript = messages.map(toChatMessage);
  const started = performance.now();
  const context = messages.map((m) => m.id);
  const lengths = new Map(messages.map((m) => [m.id, m.text.length]));
  const { coveredId, refused, base, coveredChars } = opts.noSnapshot
    ? { coveredId: null, refused: null, base: null, coveredChars: undefined }
    : await restoreNewestSnapshot(store, chat.engine, sessionId, { context, fork: opts.fork, deleteRefused: !opts.keepRefused, lengths });
  const covered = coveredId === undefined || coveredId === null ? 0 : context.indexOf(coveredId) + 1;
  let rereadTokens = 0;
  for await (const ev of chat.resume(transcript, covered, { maxTokens: 0, chunk: opts.chunk, signal: opts.signal }, coveredChars)) {
    if (ev.type !== 'prefill') continue;
    opts.onProgress?.(ev.done, ev.total);
    rereadTokens = ev.done;
  }
  const ms = performance.now() - started;
  const kind = covered > 0 ? 'resumed' : 'rebuilt';
  return { report: { kind, reread: messages.length - covered, rereadTokens, ms, refused }, lastId: messages[messages.length - 1].id, base };
}

/** Error turns, and user turns stopped while they were read, are kept but are not part of the model's context. */
export function isInContext(m: Message): boolean {
  return m.state !== 'error' && !(m.role === 'user' && m.state === 'stopped');
}

function toChatMessage(m: Message): ChatMessage {
  return { role: m.role, content: m.text };
}
