import { resolve } from 'node:path';
import type { PolicySpec } from '../policy/policy.js';
import { PersistentChat } from '../core/persistent-chat.js';
import type { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { UsageError } from './usage-error.js';

/** Opens --db FILE --session NAME for a command (created if new, resumed if it exists). */
export async function openCliSession(
  values: { db?: string; session?: string; system?: string; chunk?: string },
  model: Model,
  policy: PolicySpec,
  raw: boolean,
): Promise<{ chat: PersistentChat; close: () => void } | null> {
  if (!values.db && !values.session) return null;
  if (!values.db || !values.session) throw new UsageError('--db FILE and --session NAME go together.');
  const db = openDatabase(resolve(values.db));
  const store = new Store(db);
  const chat = await PersistentChat.open(store, model, {
    name: values.session,
    policy,
    systemPrompt: values.system,
    raw,
    chunk: values.chunk ? Number(values.chunk) : undefined,
    onNotice: (text) => process.stderr.write(`${text}\n`),
  });
  return { chat, close: () => db.close() };
}
