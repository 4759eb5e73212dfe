import { createInterface } from 'node:readline/promises';
import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { ChatSession } from '../core/chat-session.js';
import { defaultModelDir } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import { openCliSession } from './open-session.js';
import { MODEL_OPTIONS, number, parse, policyFrom, providerFrom, samplingFrom } from './options.js';
import { contextFullSentence } from '../policy/policy.js';

export const CHAT_HELP = `perpetua chat [--model DIR] [--system TEXT] [--policy dense|window|recompute|sink] [--sink S] [--window L]
    [--pin-system] [--max-tokens N] [--temperature T] [--seed S] [--ep auto|cpu|webgpu|cuda|dml|coreml] [--db FILE --session NAME]
  Interactive streaming chat in the terminal. Ctrl-C stops an answer; Ctrl-D or /exit quits.`;

export async function chatCommand(args: string[]): Promise<void> {
  const { values } = parse(args, MODEL_OPTIONS);
  const model = await Model.load(values.model ?? defaultModelDir(), { executionProvider: providerFrom(values), variant: values.variant });
  if (model.providerFallbackReason) process.stderr.write(`${model.providerFallbackReason}\n`);
  const stored = await openCliSession(values, model, policyFrom(values, model.config.maxPositions), false);
  const session = stored?.chat ?? new ChatSession(new Engine(model, createPolicy(policyFrom(values, model.config.maxPositions), model.config, model.kvEditor)), values.system ?? null);
  const policy = session.engine.policy;
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  process.stderr.write(`Chatting with ${model.name} (${model.provider}, ${policy.spec.name} cache). /exit quits.\n`);
  let answering: AbortController | null = null;
  rl.on('SIGINT', () => (answering ? answering.abort() : rl.close()));
  try {
    for (;;) {
      let line: string;
      try {
        line = await rl.question('> ');
      } catch {
        break; // input closed
      }
      if (line.trim() === '/exit') break;
      if (!line.trim()) continue;
      answering = new AbortController();
      for await (const ev of session.send(line, {
        maxTokens: number(values['max-tokens'], 'max-tokens', { integer: true, min: 1 }),
        sampling: samplingFrom(values, generationDefaults(model.dir)),
        stop: values.stop,
        chunk: number(values.chunk, 'chunk', { integer: true, min: 1 }),
        signal: answering.signal,
      })) {
        if (ev.type === 'token') process.stdout.write(ev.text);
        if (ev.type === 'done') {
          process.stdout.write('\n');
          process.stderr.write(
            `[${ev.tokens.length} tokens, ${ev.tokensPerSecond.toFixed(1)} tokens/s, cache ${policy.length}/${policy.capacity}, seen ${policy.totalTokensSeen}]\n`,
          );
          if (ev.reason === 'context') process.stderr.write(`${contextFullSentence(policy.capacity)}\n`);
        }
      }
      answering = null;
    }
  } finally {
    rl.close();
    stored?.close();
    await model.dispose();
  }
}
