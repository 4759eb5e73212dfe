import { writeFileSync } from 'node:fs';
import { Model } from '../engine/model.js';
import { sinkHeatmap } from '../eval/sink-heatmap.js';
import { DEFAULT_FIRST_TOKENS, DEFAULT_INSPECT_TOKENS, inspectSinks } from '../eval/sink-inspector.js';
import { readTextFile } from '../eval/text-stream.js';
import { defaultModelDir } from './default-model.js';
import { number, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const INSPECT_HELP = `perpetua inspect sinks --text FILE [--model DIR] [--tokens N] [--first K] [--json OUT.json]
  The attention sinks of a model (StreamingLLM, Figure 2): for each layer and head, the share of attention the
  queries over the first N tokens of FILE (default ${DEFAULT_INSPECT_TOKENS}) give to its first K tokens (default ${DEFAULT_FIRST_TOKENS}), read from the
  model's graph with its attention probabilities exposed. Fused-attention graphs cannot show them and say so.`;

const OPTIONS = {
  model: { type: 'string' },
  text: { type: 'string' },
  tokens: { type: 'string', default: String(DEFAULT_INSPECT_TOKENS) },
  first: { type: 'string', default: String(DEFAULT_FIRST_TOKENS) },
  json: { type: 'string' },
} as const;

export async function inspectCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'sinks') throw new UsageError(`inspect needs the subcommand "sinks" (perpetua inspect sinks --text FILE …), not "${sub ?? ''}".`);
  const { values: v } = parse(rest, OPTIONS);
  if (v.text === undefined) throw new UsageError('inspect sinks needs --text FILE.');
  const text = readTextFile(v.text);
  const max = number(v.tokens, 'tokens', { integer: true, min: 8 });
  const first = number(v.first, 'first', { integer: true, min: 1 });
  const model = await Model.load(v.model ?? defaultModelDir());
  try {
    const tokens = [...model.streamPrefix, ...model.tokenizer.encode(text, true)].slice(0, max);
    const report = await inspectSinks(model, tokens, first);
    process.stdout.write(`${model.name}: attention to the first ${first} tokens, over ${report.tokens} tokens of ${v.text}\n`);
    process.stdout.write(sinkHeatmap(report) + '\n');
    if (v.json) writeFileSync(v.json, JSON.stringify({ model: model.name, text: v.text, ...report }, null, 2) + '\n');
  } finally {
    await model.dispose();
  }
}
