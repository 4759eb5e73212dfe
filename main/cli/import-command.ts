import { resolve } from 'node:path';
import type { ImportReport } from '../api/import-schemas.js';
import { CoreService } from '../core/core-service.js';
import { defaultModelDir } from './default-model.js';
import { parse } from './options.js';
import { terminalSafe } from './terminal-text.js';
import { UsageError } from './usage-error.js';

export const IMPORT_HELP = `perpetua import FILE --db FILE [--model DIR]
  Imports conversations as chats: ChatGPT's conversations.json (every branch: edited questions and regenerated
  answers, the one shown active) or a \`perpetua export\` file. The chats run on --model (default: $PERPETUA_MODEL,
  else the built-in model) and re-read their transcript when first opened. The file is imported whole or not at all;
  what could not be imported (images, tool calls, hidden messages…) is listed with the reason.`;

/** Why a part was left out, in words, for the report. */
const REASONS: Record<ImportReport['skipped'][number]['reason'], string> = {
  not_text: 'not text (images, files, quotes, reasoning)',
  hidden: 'hidden by the conversation',
  tool: 'tool calls and tool output',
  system: 'system messages past the start',
  empty: 'empty',
  too_large: 'larger than a message may be',
  malformed: 'not in the expected form',
  parent_missing: 'the message they follow is missing',
  no_messages: 'conversations with nothing to import',
};

export async function importCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { db: { type: 'string' }, model: { type: 'string' } }, true);
  if (positionals.length !== 1 || !values.db) throw new UsageError('import needs one FILE and --db FILE.');
  const core = new CoreService({ dbFile: resolve(values.db) });
  try {
    const model = await core.modelsImport({ dir: values.model ?? defaultModelDir() });
    const report = await core.sessionsImport({ file: resolve(positionals[0]!), modelId: model.id });
    for (const line of describeImport(report, model.name)) console.log(terminalSafe(line));
  } finally {
    await core.close();
  }
}

export function describeImport(r: ImportReport, modelName: string): string[] {
  const format = r.format === 'chatgpt' ? 'ChatGPT export' : 'Perpetua export';
  const lines = [`Imported ${r.conversations} conversation(s) with ${r.messages} message(s) from the ${format}, as chats of ${modelName}.`];
  for (const s of r.sessions) lines.push(`  ${s.name}\t${s.messageCount} messages`);
  if (r.skipped.length) lines.push('Left out:');
  for (const s of r.skipped) lines.push(`  ${s.count} × ${REASONS[s.reason]}: ${s.examples.join('; ')}${s.count > s.examples.length ? '; …' : ''}`);
  return lines;
}
