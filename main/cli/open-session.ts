import { resolve } from 'node:path';
import type { PolicySpec } from '../policy/policy.js';
import { policyKey, policyLabel } from '../policy/policy-text.js';
import { encodePolicy } from '../policy/policy-store.js';
import { describeRestore, PersistentChat, sessionPolicy } from '../core/persistent-chat.js';
import type { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { SessionLocks } from '../store/session-locks.js';
import { Store } from '../store/store.js';
import { migrationProgressOnStderr } from './migration-progress.js';
import { policyFlagsGiven } from './options.js';
import { UsageError } from './usage-error.js';

/**
 * Opens --db FILE --session NAME for a command (created if new, resumed if it exists). Policy flags given for
 * a stored session switch its policy (the cache is rebuilt from the transcript) rather than being ignored.
 */
export async function openCliSession(
  values: { db?: string; session?: string; system?: string; chunk?: string },
  args: string[],
  model: Model,
  policy: PolicySpec,
  raw: boolean,
): Promise<{ chat: PersistentChat; close: () => void } | null> {
  if (!values.db && !values.session) return null;
  if (!values.db || !values.session) throw new UsageError('--db FILE and --session NAME go together.');
  const db = openDatabase(resolve(values.db), { onMigrationProgress: migrationProgressOnStderr() });
  try {
    const store = new Store(db);
    const notice = (text: string) => process.stderr.write(`${text}\n`);
    // an answer a killed run left streaming was cut off (the CLI starts a core of its own)
    store.markInterruptedMessages();
    const existing = store.getSessionByName(values.session);
    const holder = `perpetua ${process.argv[2] ?? ''}`.trim();
    if (existing && policyFlagsGiven(args) && policyKey(sessionPolicy(existing)) !== policyKey(policy)) {
      // only the process that holds the session may change it
      new SessionLocks(db).acquire(existing.id, existing.name, holder);
      const stored = encodePolicy(policy);
      store.updateSessionPolicy(existing.id, stored.name, stored.params);
      notice(`Switched "${existing.name}" from ${policyLabel(sessionPolicy(existing))} to ${policyLabel(policy)}; its cache is rebuilt from the transcript.`);
    }
    const chat = await PersistentChat.open(store, model, {
      name: values.session,
      policy,
      systemPrompt: values.system,
      raw,
      chunk: values.chunk ? Number(values.chunk) : undefined,
      holder,
    });
    for (const line of describeRestore(chat.session.name, chat.restored)) notice(line);
    return {
      chat,
      close: () => {
        chat.close();
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
