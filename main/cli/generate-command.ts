import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { defaultModelDir } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import { MODEL_OPTIONS, number, parse, policyFrom, providerFrom, samplingFrom } from './options.js';
import { UsageError } from './usage-error.js';
import { openCliSession } from './open-session.js';
import { readTextFile } from './read-text-file.js';
import { terminalSafe } from './terminal-text.js';
import { contextFullSentence } from '../policy/policy.js';

export const GENERATE_HELP = `perpetua generate --prompt TEXT | --prompt-file FILE [--model DIR] [--max-tokens N] [--temperature T] [--seed S]
      [--policy dense|window|recompute|sink] [--sink S] [--window L] [--ep auto|cpu|webgpu|cuda|dml|coreml]
    [--ignore-eos] [--no-lookup] [--report-every N] [--quiet] [--db FILE --session NAME]
  Prints the model's continuation of TEXT; --report-every prints speed, RSS and cache size every N tokens.
  --no-lookup decodes without prompt-lookup drafts (the same text, one model run per token).
  With --db/--session the text is stored and the session resumed next time (no --prompt: continue it).`;

export async function generateCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    prompt: { type: 'string' },
    'prompt-file': { type: 'string' },
    'ignore-eos': { type: 'boolean', default: false },
    'no-lookup': { type: 'boolean', default: false },
    'report-every': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  const reportEvery = values['report-every'] ? number(values['report-every'], 'report-every', { integer: true, min: 1 }) : 0;
  if (values.prompt !== undefined && values['prompt-file'] !== undefined) {
    throw new UsageError('Give either --prompt TEXT or --prompt-file FILE, not both.');
  }
  const promptText = values['prompt-file'] === undefined ? values.prompt : readTextFile(values['prompt-file'], 'prompt-file');
  if (promptText === undefined && !values.session) throw new UsageError('generate needs --prompt TEXT or --prompt-file FILE.');
  const model = await Model.load(values.model ?? defaultModelDir(), { executionProvider: providerFrom(values), variant: values.variant });
  if (model.providerFallbackReason) process.stderr.write(`${model.providerFallbackReason}\n`);
  const session = await openCliSession(values, args, model, policyFrom(values, model.config.maxPositions), true);
  const engine = session?.chat.engine ?? new Engine(model, createPolicy(policyFrom(values, model.config.maxPositions), model.config, model.kvEditor));
  const prompt = promptText === undefined ? [] : [...model.streamPrefix, ...model.tokenizer.encode(promptText, true)];
  const started = performance.now();
  let produced = 0;
  let lastReport = performance.now();
  const report = () => {
    const now = performance.now();
    const rss = process.memoryUsage().rss / 2 ** 20;
    process.stderr.write(
      `[${produced} tokens, ${((reportEvery * 1000) / (now - lastReport)).toFixed(0)} tokens/s, RSS ${rss.toFixed(1)} MiB, ` +
        `cache ${engine.policy.length} tokens, KV ${(engine.policy.kvBytes() / 1024).toFixed(0)} KiB]\n`,
    );
    lastReport = now;
  };
  const chunk = number(values.chunk, 'chunk', { integer: true, min: 1 });
  const opts = {
    maxTokens: number(values['max-tokens'], 'max-tokens', { integer: true, min: 0 }),
    sampling: samplingFrom(values, generationDefaults(model.dir)),
    stop: values.stop,
    ignoreEos: values['ignore-eos'],
    lookup: !values['no-lookup'],
    chunk,
  };
  if (!session) await engine.feed(prompt, { chunk });
  const events = !session
    ? engine.generate(opts)
    : promptText === undefined
      ? session.chat.continue(opts)
      : session.chat.send(promptText, opts);
  let prefillMs = session ? 0 : performance.now() - started;
  for await (const ev of events) {
    if (ev.type === 'prefill') {
      prefillMs = performance.now() - started;
      continue;
    }
    if (ev.type === 'token') {
      if (!values.quiet) process.stdout.write(process.stdout.isTTY ? terminalSafe(ev.text) : ev.text);
      if (reportEvery && ev.id >= 0 && ++produced % reportEvery === 0) report();
    } else if (ev.type === 'done') {
      process.stdout.write('\n');
      process.stderr.write(
        `[${ev.tokens.length} tokens, ${ev.tokensPerSecond.toFixed(1)} tokens/s, prefill ${prompt.length} tokens in ${prefillMs.toFixed(0)} ms, ` +
          `stop: ${ev.reason}, ${model.runsOn}, ${engine.policy.spec.name} cache ${engine.policy.length} tokens` +
          `${ev.lookup.drafted ? `, lookup kept ${ev.lookup.accepted} of ${ev.lookup.drafted} drafted tokens` : ''}]\n`,
      );
      if (ev.reason === 'context') process.stderr.write(`${contextFullSentence(engine.policy.capacity)}\n`);
    }
  }
  session?.close();
  await model.dispose();
}
