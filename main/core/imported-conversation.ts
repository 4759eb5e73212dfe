import type { GenerationSettings } from '../api/generation-schemas.js';
import type { ImportSkipReason, ImportReport } from '../api/import-schemas.js';
import type { FinalMessageState, Role } from '../store/types.js';

/** One message read from an import file; `parent` is the key of the message it follows (null: a first message). */
export interface ImportedMessage {
  key: string;
  parent: string | null;
  role: Role;
  text: string;
  state: FinalMessageState;
  /** ms since the epoch; null when the file gives none */
  createdAt: number | null;
}

/**
 * A conversation read from an import file, as a tree: messages come parents first; those with the same parent are
 * versions of one turn (edited or regenerated). `current` is the key of the message the chat shows (its branch is
 * the active one); null: the last message written.
 */
export interface ImportedConversation {
  title: string;
  systemPrompt: string;
  /** the chat's generation settings (validated: api/generation-schemas.ts); {}: the model's defaults */
  generation: GenerationSettings;
  messages: ImportedMessage[];
  current: string | null;
}

/** How many examples of each reason the report lists. */
const EXAMPLES = 3;

/** What an import left out, by reason: how many, and where the first few were. */
export class SkippedItems {
  private readonly byReason = new Map<ImportSkipReason, { count: number; examples: string[] }>();

  add(reason: ImportSkipReason, where: string): void {
    let entry = this.byReason.get(reason);
    if (!entry) this.byReason.set(reason, (entry = { count: 0, examples: [] }));
    entry.count++;
    if (entry.examples.length < EXAMPLES) entry.examples.push(where);
  }

  report(): ImportReport['skipped'] {
    return [...this.byReason].map(([reason, e]) => ({ reason, count: e.count, examples: e.examples }));
  }
}

/** Where a message was in its file, for the report: the conversation's title and the message's own id. */
export function place(title: string, message?: string): string {
  const name = `“${title.length > 60 ? `${title.slice(0, 59)}…` : title}”`;
  return message === undefined ? name : `${name}, message ${message.length > 40 ? `${message.slice(0, 39)}…` : message}`;
}

/** A title as a chat name: control characters (a newline, a tab) become spaces; none left, "Imported chat". */
export function chatTitle(raw: unknown): string {
  const title = typeof raw === 'string' ? raw.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim() : '';
  return title || 'Imported chat';
}
