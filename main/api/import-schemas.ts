/** Importing conversations from a file: Perpetua's own JSONL export or ChatGPT's conversations.json. */
import { z } from 'zod';
import { Id, SessionSchema } from './schemas.js';

/** Largest file an import reads (it is parsed whole, in the core's memory). */
export const MAX_IMPORT_BYTES = 128 * 1024 * 1024;

/** Why a part of an import file was left out. */
export const ImportSkipReasonSchema = z.enum([
  /** images, files, quotes, reasoning: only text is imported */
  'not_text',
  /** a message the conversation hid (ChatGPT's system and context messages) */
  'hidden',
  /** a tool call or a tool's output (code interpreter, browsing, plugins) */
  'tool',
  /** a system message past the conversation's start (one at the start becomes the chat's system prompt) */
  'system',
  /** a message with no text */
  'empty',
  /** a message larger than a message may be */
  'too_large',
  /** an entry that is not what the format says (a missing field, a wrong type, a loop of parents) */
  'malformed',
  /** a message whose parent is not in the file (a damaged database's export) or was left out itself */
  'parent_missing',
  /** a conversation with nothing left to import */
  'no_messages',
]);
export type ImportSkipReason = z.infer<typeof ImportSkipReasonSchema>;

export const SessionsImportParams = z.strictObject({
  /** the file's path (the shell's file picker, or typed) */
  file: z.string().min(1).max(4096),
  /** the model the imported chats run on */
  modelId: Id,
});

export const ImportReportSchema = z.object({
  /** which format the file was read as */
  format: z.enum(['perpetua', 'chatgpt']),
  conversations: z.number().int().nonnegative(),
  messages: z.number().int().nonnegative(),
  /** the chats made, in the file's order */
  sessions: z.array(SessionSchema),
  /** what was left out, by reason: how many and where the first few were */
  skipped: z.array(z.object({ reason: ImportSkipReasonSchema, count: z.number().int().positive(), examples: z.array(z.string()) })),
});
export type ImportReport = z.infer<typeof ImportReportSchema>;
