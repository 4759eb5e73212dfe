import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parsePolicy } from '../policy/policy-text.js';
import type { AbMetrics } from '../api/ab-schemas.js';
import type { AbPacket } from '../api/packets.js';
import { AbCoordinator } from '../core/ab-coordinator.js';
import { SessionRunner } from '../core/session-runner.js';
import { PerpetuaError } from '../shared/errors.js';
import { Model } from '../engine/model.js';
import { defaultModelDir } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import { MODEL_OPTIONS, number, parse, policyFrom, providerFrom, samplingFrom } from './options.js';
import { openCliSession } from './open-session.js';
import { UsageError } from './usage-error.js';

export const AB_HELP = `perpetua ab --db FILE --session NAME --a POLICY --b POLICY --prompt TEXT [--model DIR] [--json OUT.json]
    [--max-tokens N] [--vote a|b|tie] [--temperature T] [--seed S]
  Forks the session into two branches that differ only in cache policy (POLICY = name:sink:window, e.g. sink:4:1020
  or window:0:1024), sends TEXT to both, streams both answers and measures each branch: latency p50/p90, tokens/s,
  cache fill, KV memory and the perplexity of the whole conversation under that policy. The run is stored; --vote
  records a vote and continues the session from the winning branch.`;

export async function abCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...MODEL_OPTIONS,
    a: { type: 'string' },
    b: { type: 'string' },
    prompt: { type: 'string' },
    json: { type: 'string' },
    vote: { type: 'string' },
  });
  if (!values.db || !values.session) throw new UsageError('ab needs --db FILE and --session NAME.');
  if (!values.a || !values.b || values.prompt === undefined) throw new UsageError('ab needs --a POLICY, --b POLICY and --prompt TEXT.');
  if (values.vote !== undefined && !['a', 'b', 'tie'].includes(values.vote)) throw new UsageError('--vote must be a, b or tie.');
  const specA = parsePolicy(values.a);
  const specB = parsePolicy(values.b);
  const model = await Model.load(values.model ?? defaultModelDir(), { executionProvider: providerFrom(values), variant: values.variant });
  const opened = (await openCliSession(values, [], model, policyFrom(values, model.config.maxPositions), false))!;
  try {
    const defaults = {
      maxTokens: number(values['max-tokens'], 'max-tokens', { integer: true, min: 1 }),
      sampling: samplingFrom(values, generationDefaults(model.dir)),
      chunk: number(values.chunk, 'chunk', { integer: true, min: 1 }),
    };
    const runner = new SessionRunner(opened.chat, defaults);
    const ab = new AbCoordinator(opened.chat.store);
    const answers = { a: '', b: '' };
    let result: Extract<AbPacket, { type: 'done' }> | null = null;
    for await (const p of ab.run(runner, { a: specA, b: specB, prompt: values.prompt, ...defaults })) {
      if (p.type === 'progress' && p.phase === 'fork') process.stderr.write(`branch ${p.branch}: cache ${p.fork === 'forked' ? 'forked from the session' : 'rebuilt from the transcript'}\n`);
      if (p.type === 'token') answers[p.branch] += p.delta;
      if (p.type === 'failed') throw new PerpetuaError(p.error.message);
      if (p.type === 'done') result = p;
    }
    if (!result) throw new UsageError('The A/B run ended without a result.');
    console.log(`A (${values.a}):${answers.a}\n\nB (${values.b}):${answers.b}\n`);
    console.log(metricsTable(result.a, result.b, values.a, values.b));
    if (values.vote) {
      const vote = values.vote as 'a' | 'b' | 'tie';
      await ab.vote(Number(result.runId), vote, vote === 'tie' ? undefined : async () => runner);
      if (vote !== 'tie') process.stderr.write(`The session continues from branch ${vote} (${vote === 'a' ? values.a : values.b}).\n`);
    }
    if (values.json) {
      mkdirSync(dirname(resolve(values.json)), { recursive: true });
      const run = Number(result.runId);
      writeFileSync(values.json, JSON.stringify({ run, session: values.session, prompt: values.prompt, vote: values.vote ?? null, a: result.a, b: result.b }, null, 2));
    }
    ab.close();
  } finally {
    opened.close();
    await model.dispose();
  }
}

function metricsTable(a: AbMetrics, b: AbMetrics, na: string, nb: string): string {
  const rows: [string, (m: AbMetrics) => string][] = [
    ['tokens', (m) => String(m.tokens)],
    ['latency p50 (ms)', (m) => m.latencyP50Ms.toFixed(2)],
    ['latency p90 (ms)', (m) => m.latencyP90Ms.toFixed(2)],
    ['tokens/s', (m) => m.tokensPerSecond.toFixed(1)],
    ['cache fill', (m) => `${m.cacheFill}/${m.cacheCapacity}`],
    ['KV memory (KiB)', (m) => (m.kvBytes / 1024).toFixed(1)],
    ['conversation PPL', (m) => (m.transcriptPpl === null ? 'n/a' : m.transcriptPpl.toFixed(2))],
    ['conversation tokens', (m) => String(m.transcriptTokens)],
    ['cache', (m) => m.fork],
  ];
  const lines = [`| metric | A ${na} | B ${nb} |`, '|---|---:|---:|', ...rows.map(([k, f]) => `| ${k} | ${f(a)} | ${f(b)} |`)];
  return lines.join('\n');
}
