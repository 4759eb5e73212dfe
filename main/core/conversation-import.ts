import { existsSync, readFileSync } from 'node:fs';
import { MAX_IMPORT_BYTES, type ImportReport } from '../api/import-schemas.js';
import { defaultPolicyFor } from '../policy/policy.js';
import { encodePolicy } from '../policy/policy-store.js';
import { modelMissingError } from '../models/model-missing.js';
import { errorCode, PerpetuaError } from '../shared/errors.js';
import { unreadableReason } from '../shared/regular-file.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/typed-statements.js';
import type { Model, NewSession, Session } from '../store/types.js';
import { toApiSession } from './api-mappers.js';
import { readChatGptExport } from './chatgpt-export.js';
import { freeSessionName } from './free-name.js';
import { SkippedItems, type ImportedConversation } from './imported-conversation.js';
import { readPerpetuaExport } from './perpetua-jsonl.js';

/**
 * Imports a file of conversations (ChatGPT's conversations.json or Perpetua's JSONL export) as chats of `model`: read
 * whole and checked first (a file that cannot be read as one writes nothing), then stored a conversation at a time.
 * The report says what was imported and what was left out.
 */
export async function importConversations(store: Store, model: Model, file: string): Promise<ImportReport> {
  if (!existsSync(model.dir)) throw modelMissingError(model.name, model.dir);
  const read = parseConversations(readImportText(file));
  const sessions = await storeConversations(store, model, read.conversations);
  return {
    format: read.format,
    conversations: sessions.length,
    messages: read.conversations.reduce((n, c) => n + c.messages.length, 0),
    sessions: sessions.map((s, i) => toApiSession(s, read.conversations[i]!.messages.length)),
    skipped: read.skipped.report(),
  };
}

/** A file read as conversations: which format, the conversations, and what was left out on the way. */
export interface ConversationsFile {
  format: ImportReport['format'];
  conversations: ImportedConversation[];
  skipped: SkippedItems;
}

function unreadable(sentence: string): PerpetuaError {
  return new PerpetuaError(`${sentence} Nothing was imported.`, { code: 'import_unreadable' });
}

/** The file's text: a regular file of at most MAX_IMPORT_BYTES, in UTF-8 (a byte that is not is refused, never replaced). */
export function readImportText(file: string): string {
  const reason = unreadableReason(file, MAX_IMPORT_BYTES);
  if (reason) throw unreadable(`The file ${file} ${reason}.`);
  const bytes = readFileSync(file);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw unreadable(`The file ${file} is not UTF-8 text.`);
  }
}

/**
 * Reads conversations from a file's text: ChatGPT's conversations.json (a JSON array) or Perpetua's own export (JSON
 * Lines). A file that is neither, or whose JSON is broken anywhere, is refused as a whole: what it holds cannot be told.
 */
export function parseConversations(text: string): ConversationsFile {
  const skipped = new SkippedItems();
  const body = text.trimStart();
  if (body.startsWith('[')) {
    const data = parseJson(text, 'The file') as unknown[]; // starting with "[", it is a list once parsed
    return { format: 'chatgpt', conversations: readChatGptExport(data, skipped), skipped };
  }
  if (!body.startsWith('{')) throw unreadable("The file is neither ChatGPT's conversations.json nor a Perpetua export (JSON Lines).");
  const values = text.split('\n').flatMap((line, i) => (line.trim() ? [parseJson(line, `Line ${i + 1}`)] : []));
  return { format: 'perpetua', conversations: readPerpetuaExport(values, skipped), skipped };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw unreadable(`${what} is not valid JSON (${(err as Error).message}).`);
  }
}

/**
 * Stores the conversations as chats of `model`, each in its own transaction, with the core's thread free between
 * them. One transaction for a whole file would hold the core's only thread and the database's write lock for as long
 * as the file takes (about 0.4 ms a message on a loaded 2-core machine: minutes for a large ChatGPT export), freezing
 * every chat until the watchdog restarts the core; per conversation, a chat is never half imported and the app keeps
 * answering. A failure part way (a full disk) says how many came in; the rest is not imported. Each chat keeps its
 * system prompt and generation settings and gets the model's default policy (a window sized for another model may
 * not fit this one); it opens with its transcript re-read (there is no snapshot).
 */
export async function storeConversations(store: Store, model: Model, conversations: ImportedConversation[]): Promise<Session[]> {
  const { name: policy, params: policyParams } = encodePolicy(defaultPolicyFor((model.config as { maxPositions?: number }).maxPositions));
  const sessions: Session[] = [];
  for (const c of conversations) {
    try {
      sessions.push(inTransaction(store.db, () => storeConversation(store, { modelId: model.id, policy, policyParams }, c)));
    } catch (err) {
      if (!sessions.length) throw err;
      const sentence = `Only the first ${sessions.length} of ${conversations.length} conversations were imported (they are in the chat list); the rest were not: ${(err as Error).message}`;
      throw new PerpetuaError(sentence, { code: errorCode(err), cause: err });
    }
    await new Promise((resolve) => setImmediate(resolve)); // other requests and the heartbeat are served in between
  }
  return sessions;
}

function storeConversation(store: Store, settings: Pick<NewSession, 'modelId' | 'policy' | 'policyParams'>, c: ImportedConversation): Session {
  const session = store.createSession({ ...settings, name: freeSessionName(store, c.title), systemPrompt: c.systemPrompt });
  if (Object.keys(c.generation).length) store.updateSessionGeneration(session.id, c.generation);
  const ids = new Map<string, number>();
  for (const m of c.messages) {
    const parentId = m.parent === null ? null : ids.get(m.parent)!;
    ids.set(m.key, store.appendMessage(session.id, { role: m.role, text: m.text, state: m.state, parentId, createdAt: m.createdAt ?? undefined }).id);
  }
  const current = c.current === null ? undefined : ids.get(c.current);
  if (current !== undefined) store.branches.setHead(session.id, current);
  return store.getSession(session.id)!;
}
