import { createPolicy } from '../cache/create-policy.js';
import { Engine } from '../engine/engine.js';
import { Model } from '../engine/model.js';
import { defaultModelDir } from './default-model.js';
import { MODEL_OPTIONS, number, parse, policyFrom, providerFrom, samplingFrom } from './options.js';
import { UsageError } from './usage-error.js';

export const GENERATE_HELP = `perpetua generate --prompt TEXT [--model DIR] [--max-tokens N] [--temperature T] [--seed S]
    [--policy dense|window|recompute|sink] [--sink S] [--window L] [--ep cpu|webgpu|cuda|dml|coreml]
  Prints the model's continuation of TEXT.`;

export async function generateCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { ...MODEL_OPTIONS, prompt: { type: 'string' } });
  if (values.prompt === undefined) throw new UsageError('generate needs --prompt TEXT.');
  const model = await Model.load(values.model ?? defaultModelDir(), { executionProvider: providerFrom(values) });
  if (model.providerFallbackReason) process.stderr.write(`${model.providerFallbackReason}\n`);
  const engine = new Engine(model, createPolicy(policyFrom(values), model.config));
  const prompt = model.tokenizer.encode(values.prompt, true);
  const started = performance.now();
  await engine.feed(prompt, { chunk: number(values.chunk, 'chunk', { integer: true, min: 1 }) });
  const prefillMs = performance.now() - started;
  for await (const ev of engine.generate({
    maxTokens: number(values['max-tokens'], 'max-tokens', { integer: true, min: 0 }),
    sampling: samplingFrom(values),
    stop: values.stop,
  })) {
    if (ev.type === 'token') process.stdout.write(ev.text);
    else {
      process.stdout.write('\n');
      process.stderr.write(
        `[${ev.tokens.length} tokens, ${ev.tokensPerSecond.toFixed(1)} tokens/s, prefill ${prompt.length} tokens in ${prefillMs.toFixed(0)} ms, ` +
          `stop: ${ev.reason}, ${model.provider}, ${engine.policy.spec.name} cache ${engine.policy.length} tokens]\n`,
      );
    }
  }
  await model.dispose();
}
