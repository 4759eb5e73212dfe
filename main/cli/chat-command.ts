import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { ChatSession } from '../core/chat-session.js';
import type { SessionEvent } from '../core/persistent-chat.js';
import { BLOCK_FENCE, ChatInput } from './chat-input.js';
import { defaultModelDir } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import { openCliSession } from './open-session.js';
import { flagGiven, MODEL_OPTIONS, number, parse, policyFrom, providerFrom, samplingFrom } from './options.js';
import { answerSettings, storedGeneration } from '../core/generation-settings.js';
import type { Session } from '../store/types.js';
import { PrefillProgress } from './prefill-progress.js';
import { terminalSafe } from './terminal-text.js';
import { contextFullSentence } from '../policy/policy.js';

export const CHAT_HELP = `perpetua chat [--model DIR] [--system TEXT] [--policy dense|window|recompute|sink] [--sink S] [--window L]
    [--pin-system] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R] [--seed S]
    [--stop TEXT]... [--ep auto|cpu|webgpu|cuda|dml|coreml] [--db FILE --session NAME]
  Interactive streaming chat in the terminal. A paste is one message; ${BLOCK_FENCE} on a line of its own starts and ends
  a message typed over several lines. Ctrl-C stops the answer (or the reading of a paste); Ctrl-D or /exit quits.
  A stored session (--db --session) answers with its own generation settings (those set in the app's chat settings);
  the sampling, --max-tokens and --stop flags given override them for this run only. Settings neither give take the
  model's generation_config.json, else greedy decoding and 256 tokens.`;

export async function chatCommand(args: string[]): Promise<void> {
  const { values } = parse(args, MODEL_OPTIONS);
  samplingFrom(values); // a bad flag is refused before the model loads
  const maxTokens = number(values['max-tokens'], 'max-tokens', { integer: true, min: 1 });
  const chunk = number(values.chunk, 'chunk', { integer: true, min: 1 });
  const model = await Model.load(values.model ?? defaultModelDir(), { executionProvider: providerFrom(values), variant: values.variant });
  let stored: Awaited<ReturnType<typeof openCliSession>> = null;
  let input: ChatInput | null = null;
  try {
    if (model.providerFallbackReason) process.stderr.write(`${model.providerFallbackReason}\n`);
    stored = await openCliSession(values, args, model, policyFrom(values, model.config.maxPositions), false);
    const chat = chatSettings(stored?.chat.session, generationDefaults(model.dir), maxTokens);
    const sendOptions = {
      maxTokens: flagGiven(args, 'max-tokens') ? maxTokens : chat.maxTokens,
      sampling: samplingFrom(values, chat.sampling),
      stop: values.stop ?? chat.stop,
      chunk,
    };
    const session = stored?.chat ?? new ChatSession(new Engine(model, createPolicy(policyFrom(values, model.config.maxPositions), model.config, model.kvEditor)), values.system ?? null);
    let answering: AbortController | null = null;
    input = new ChatInput(process.stdin, process.stdout, () => {
      answering?.abort();
      return answering !== null;
    });
    process.stderr.write(`Chatting with ${model.name} (${model.runsOn}, ${session.engine.policy.spec.name} cache). /exit quits.\n`);
    for (let text = await input.next(); text !== null && text.trim() !== '/exit'; text = await input.next()) {
      answering = new AbortController();
      try {
        await showAnswer(session.send(text, { ...sendOptions, signal: answering.signal }), () => session.engine.policy);
      } catch (err) {
        if ((err as Error)?.name !== 'AbortError') throw err;
        process.stdout.write('\n');
        process.stderr.write('[stopped while reading your message]\n');
      } finally {
        answering = null;
      }
    }
  } finally {
    input?.close();
    stored?.close();
    await model.dispose();
  }
}

/** A stored session's generation settings over the model's defaults (a new or unstored chat has none). */
function chatSettings(session: Session | undefined, model: ReturnType<typeof generationDefaults>, maxTokens: number) {
  return answerSettings(model, maxTokens, session ? storedGeneration(session.generation) : {});
}

/** Streams one answer to the terminal: reading progress on stderr, the answer's text (made safe) on stdout. */
async function showAnswer(events: AsyncIterable<SessionEvent>, policy: () => Engine['policy']): Promise<void> {
  const progress = new PrefillProgress(process.stderr);
  for await (const ev of events) {
    if (ev.type === 'started') continue;
    if (ev.type === 'prefill') progress.update(ev.done, ev.total);
    else progress.end();
    if (ev.type === 'token') process.stdout.write(terminalSafe(ev.text));
    if (ev.type === 'done') {
      const p = policy();
      process.stdout.write('\n');
      process.stderr.write(
        `[${ev.tokens.length} tokens, ${ev.tokensPerSecond.toFixed(1)} tokens/s, cache ${p.length}/${p.capacity}, seen ${p.totalTokensSeen}` +
          `${ev.reason === 'cancelled' ? ', stopped' : ''}]\n`,
      );
      if (ev.reason === 'context') process.stderr.write(`${contextFullSentence(p.capacity)}\n`);
    }
  }
}
