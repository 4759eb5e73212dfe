import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parsePolicy } from '../policy/policy-text.js';
import { AbBranch, runAb, type AbBranchMetrics } from '../core/ab-run.js';
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
  const opened = (await openCliSession(values, model, policyFrom(values), false))!;
  try {
    const session = opened.chat;
    const a = await AbBranch.create('a', session, specA);
    const b = await AbBranch.create('b', session, specB);
    const answers = { a: '', b: '' };
    let result: { a: AbBranchMetrics; b: AbBranchMetrics } | null = null;
    for await (const ev of runAb(a, b, values.prompt, {
      maxTokens: number(values['max-tokens'], 'max-tokens', { integer: true, min: 1 }),
      sampling: samplingFrom(values, generationDefaults(model.dir)),
      chunk: number(values.chunk, 'chunk', { integer: true, min: 1 }),
    })) {
      if (ev.type === 'fork') process.stderr.write(`branch ${ev.branch}: cache ${ev.how === 'forked' ? 'forked from the session' : 'rebuilt from the transcript'}\n`);
      if (ev.type === 'token') answers[ev.branch] += ev.text;
      if (ev.type === 'done') result = { a: ev.a, b: ev.b };
    }
    if (!result) throw new UsageError('The A/B run ended without a result.');
    const run = session.store.recordAbRun({
      sessionId: session.session.id,
      prompt: values.prompt,
      branchA: { policy: values.a, answer: result.a.answer },
      branchB: { policy: values.b, answer: result.b.answer },
      metrics: { a: result.a, b: result.b },
    });
    console.log(`A (${values.a}):${answers.a}\n\nB (${values.b}):${answers.b}\n`);
    console.log(metricsTable(result.a, result.b, values.a, values.b));
    if (values.vote) {
      session.store.voteAbRun(run.id, values.vote as 'a' | 'b' | 'tie');
      if (values.vote !== 'tie') {
        const winner = values.vote === 'a' ? a : b;
        await session.adoptBranch(winner.chat, values.prompt, result[values.vote as 'a' | 'b'].answer);
        process.stderr.write(`The session continues from branch ${values.vote} (${values.vote === 'a' ? values.a : values.b}).\n`);
      }
    }
    if (values.json) {
      mkdirSync(dirname(resolve(values.json)), { recursive: true });
      writeFileSync(values.json, JSON.stringify({ run: run.id, session: values.session, prompt: values.prompt, vote: values.vote ?? null, a: result.a, b: result.b }, null, 2));
    }
  } finally {
    opened.close();
    await model.dispose();
  }
}

function metricsTable(a: AbBranchMetrics, b: AbBranchMetrics, na: string, nb: string): string {
  const rows: [string, (m: AbBranchMetrics) => string][] = [
    ['tokens', (m) => String(m.tokens)],
    ['latency p50 (ms)', (m) => m.latencyP50Ms.toFixed(2)],
    ['latency p90 (ms)', (m) => m.latencyP90Ms.toFixed(2)],
    ['tokens/s', (m) => m.tokensPerSecond.toFixed(1)],
    ['cache fill', (m) => `${m.cacheFill}/${m.cacheCapacity}`],
    ['KV memory (KiB)', (m) => (m.kvBytes / 1024).toFixed(1)],
    ['conversation PPL', (m) => m.transcriptPpl.toFixed(2)],
    ['conversation tokens', (m) => String(m.transcriptTokens)],
    ['cache', (m) => m.fork],
  ];
  const lines = [`| metric | A ${na} | B ${nb} |`, '|---|---:|---:|', ...rows.map(([k, f]) => `| ${k} | ${f(a)} | ${f(b)} |`)];
  return lines.join('\n');
}
