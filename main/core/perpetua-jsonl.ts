import { z } from 'zod';
import { GenerationSettingsSchema } from '../api/generation-schemas.js';
import { MAX_MESSAGE_BYTES, MAX_SYSTEM_PROMPT_BYTES, utf8ByteLength } from '../api/limits.js';
import type { FinalMessageState } from '../store/types.js';
import { chatTitle, place, type ImportedConversation, type ImportedMessage, type SkippedItems } from './imported-conversation.js';

const ROLES = new Set(['user', 'assistant', 'system']);
const STATES = new Set(['done', 'stopped', 'error', 'streaming']);

/** One line of `perpetua export` (main/cli/export-command.ts), as it is when every field is what the export writes. */
interface ExportLine {
  session: string;
  seq: number;
  parent: number | null;
  role: 'user' | 'assistant' | 'system';
  state: string;
  text: string;
  createdAt: number;
}

/** A chat's own line, written before its messages: its system prompt, generation settings and the message it shows. */
const SessionLineSchema = z.strictObject({
  session: z.string().trim().min(1),
  systemPrompt: z.string().refine((t) => utf8ByteLength(t) <= MAX_SYSTEM_PROMPT_BYTES),
  generation: GenerationSettingsSchema,
  shown: z.number().int().positive().nullable(),
});
type SessionLine = z.infer<typeof SessionLineSchema>;

function isExportLine(v: unknown): v is ExportLine {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as Record<string, unknown>;
  return (
    typeof l.session === 'string' && l.session.trim() !== '' &&
    Number.isSafeInteger(l.seq) && (l.seq as number) > 0 &&
    (l.parent === null || (Number.isSafeInteger(l.parent) && (l.parent as number) > 0)) &&
    typeof l.role === 'string' && ROLES.has(l.role) &&
    typeof l.state === 'string' && STATES.has(l.state) &&
    typeof l.text === 'string' &&
    (l.createdAt === undefined || typeof l.createdAt === 'number')
  );
}

/**
 * Perpetua's own export (main/cli/export-command.ts): one message a line, `parent` the seq of the message it follows,
 * so every branch comes back; each chat's own line gives its system prompt, generation settings and the message it
 * showed (without one, as in older exports, the newest message's branch is shown). Empty messages are kept (an answer
 * stopped before its first word is part of the chat); one that was being written when the database was exported comes
 * back stopped.
 */
export function readPerpetuaExport(values: unknown[], skipped: SkippedItems): ImportedConversation[] {
  const bySession = new Map<string, Map<number, ExportLine>>();
  const settings = new Map<string, SessionLine>();
  values.forEach((v, i) => {
    if (typeof v === 'object' && v !== null && !('seq' in v)) {
      const line = SessionLineSchema.safeParse(v);
      if (line.success) settings.set(line.data.session, line.data);
      else skipped.add('malformed', `line ${i + 1}`);
      return;
    }
    if (!isExportLine(v)) {
      skipped.add('malformed', `line ${i + 1}`);
      return;
    }
    const lines = bySession.get(v.session) ?? new Map<number, ExportLine>();
    bySession.set(v.session, lines);
    if (lines.has(v.seq)) skipped.add('malformed', place(v.session, `#${v.seq}`)); // a number given twice
    else lines.set(v.seq, v);
  });

  const conversations: ImportedConversation[] = [];
  for (const [session, lines] of bySession) {
    const title = chatTitle(session);
    const messages: ImportedMessage[] = [];
    const kept = new Set<number>();
    // parents are written before their replies (lower seq), so one pass in seq order places every message
    for (const line of [...lines.values()].sort((a, b) => a.seq - b.seq)) {
      const where = place(title, `#${line.seq}`);
      if (line.parent !== null && !kept.has(line.parent)) skipped.add(line.parent < line.seq ? 'parent_missing' : 'malformed', where);
      else if (utf8ByteLength(line.text) > MAX_MESSAGE_BYTES) skipped.add('too_large', where);
      else {
        const state: FinalMessageState = line.state === 'streaming' ? 'stopped' : (line.state as FinalMessageState);
        const createdAt = typeof line.createdAt === 'number' && Number.isFinite(line.createdAt) && line.createdAt > 0 ? line.createdAt : null;
        messages.push({ key: String(line.seq), parent: line.parent === null ? null : String(line.parent), role: line.role, text: line.text, state, createdAt });
        kept.add(line.seq);
      }
    }
    const own = settings.get(session);
    // the message the chat showed, where the file says so and it came in; else the newest one
    const shown = own?.shown != null && kept.has(own.shown) ? String(own.shown) : messages.at(-1)?.key;
    const generation = own?.generation ?? {};
    if (messages.length) conversations.push({ title, systemPrompt: own?.systemPrompt ?? '', generation, messages, current: shown ?? null });
    else skipped.add('no_messages', place(title));
  }
  return conversations;
}
