import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { unreadableReason } from '../shared/regular-file.js';
import { salvageMessages, type SalvagedSession } from '../store/salvage.js';
import { parse } from './options.js';
import { UsageError } from './usage-error.js';

export const EXPORT_HELP = `perpetua export --db FILE --out FILE.jsonl
  Writes every message that can be read, also from a damaged database (which is only read, never changed),
  as JSON Lines: one {"session", "seq", "parent", "role", "state", "text", "createdAt"} per line. "parent" is the seq
  of the message it follows (null: the first): an edited message or a regenerated answer shares its parent with
  the versions it stands beside, so every branch of a chat can be told apart. Each chat's messages follow one
  {"session", "systemPrompt", "generation", "shown"} line (no "seq"): its system prompt, its generation settings
  and the seq of the message it shows (its active branch ends there). \`perpetua import\` reads the file back.`;

export async function exportCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { db: { type: 'string' }, out: { type: 'string' } });
  if (!values.db || !values.out) throw new UsageError('export needs --db FILE and --out FILE.');
  const db = resolve(values.db);
  const problem = unreadableReason(db, Number.MAX_SAFE_INTEGER);
  if (problem) throw new UsageError(`The chat database ${values.db} ${problem}.`);
  if (resolve(values.out) === db) throw new UsageError('--out must be another file than --db.');
  const { messages, sessions, unreadable } = salvageMessages(db);
  // 'wx': never overwrite a file, so an export cannot replace what it should save
  let fd: number;
  try {
    fd = openSync(values.out, 'wx');
  } catch (err) {
    throw new UsageError(`The export file ${values.out} could not be created (${(err as NodeJS.ErrnoException).code}); choose a new file name.`);
  }
  try {
    const seqOf = new Map(messages.map((m) => [m.id, m.seq]));
    let previous: number | null = null;
    for (const m of messages) {
      const session = sessions.get(m.sessionId);
      if (m.sessionId !== previous && session) writeSync(fd, `${JSON.stringify(sessionLine(session, seqOf))}\n`);
      previous = m.sessionId;
      const parent = m.parentId === null ? null : (seqOf.get(m.parentId) ?? null);
      const line = { session: m.sessionName, seq: m.seq, parent, role: m.role, state: m.state, text: m.text, createdAt: m.createdAt };
      writeSync(fd, `${JSON.stringify(line)}\n`);
    }
  } finally {
    closeSync(fd);
  }
  const chats = new Set(messages.map((m) => m.sessionId)).size;
  process.stderr.write(
    `Exported ${messages.length} messages of ${chats} sessions to ${values.out}` +
      (unreadable ? `; ${unreadable} messages could not be read (the database is damaged there).\n` : '.\n'),
  );
}

/** A chat's own line: what of its settings a chat imported from the file keeps. */
function sessionLine(s: SalvagedSession, seqOf: Map<number, number>) {
  let generation: unknown = {};
  try {
    generation = JSON.parse(s.generation);
  } catch {
    // unreadable settings: the model's defaults
  }
  return { session: s.name, systemPrompt: s.systemPrompt, generation, shown: s.headId === null ? null : (seqOf.get(s.headId) ?? null) };
}
