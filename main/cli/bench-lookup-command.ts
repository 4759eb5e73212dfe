import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Model } from '../engine/model.js';
import { describeMachine, machineInfo } from '../eval/machine-info.js';
import { LOOKUP_TABLE_HEAD, lookupCases, lookupRow, measureLookup, passageOf } from '../eval/lookup-bench.js';
import { policyList } from '../eval/policy-list.js';
import { defaultModelDir, packageRoot } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import type { SamplingOptions } from '../engine/sampler.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_LOOKUP_HELP = `perpetua bench lookup [--model DIR] [--corpora DIR] [--books N] [--chars C] [--tokens N] [--rounds R]
    [--policy sink|window|dense] [--sink S] [--window L] [--repetition-penalty R] [--json OUT.json]
  Prompt-lookup decoding on real text: PG-19 passages (pg19-test-*.txt in --corpora, default ../shared/corpora) that the
  model is asked to quote, continue and summarise, and a code-editing prompt; greedy with the model's repetition
  penalty (generation_config.json; override with --repetition-penalty), with and without lookup, taking turns: drafted and accepted tokens, acceptance rate, tok/s and CPU ms per token, and whether the tokens are the same.`;

export async function benchLookupCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    corpora: { type: 'string' },
    books: { type: 'string', default: '3' },
    chars: { type: 'string', default: '1300' },
    tokens: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '3' },
    policy: { type: 'string', default: 'sink' },
    sink: { type: 'string', default: '4' },
    window: { type: 'string', default: '500' },
    'repetition-penalty': { type: 'string' },
    json: { type: 'string' },
  });
  const corpora = resolve(v.corpora ?? join(packageRoot(), '..', 'shared', 'corpora'));
  const books = existsSync(corpora) ? readdirSync(corpora).filter((f) => /^pg19-test-.*\.txt$/.test(f)).sort() : [];
  if (!books.length) throw new UsageError(`No PG-19 passages (pg19-test-*.txt) in ${corpora}; give --corpora DIR.`);
  const chars = number(v.chars, 'chars', { integer: true, min: 200 });
  const passages = books.slice(0, number(v.books, 'books', { integer: true, min: 1 })).map((f) => ({
    name: basename(f, '.txt').replace(/^pg19-test-/, 'PG-19 '),
    text: passageOf(join(corpora, f), chars),
  }));
  const [spec] = policyList(oneOf(v.policy, ['sink', 'window', 'dense'] as const, 'policy'), {
    window: number(v.window, 'window', { integer: true, min: 2 }),
    sink: number(v.sink, 'sink', { integer: true, min: 0 }),
    evictChunk: 32,
  });
  const label = `${spec.label} cache of ${spec.spec.sink} + ${spec.spec.window} tokens`;
  const model = await Model.load(resolve(v.model ?? defaultModelDir()));
  try {
    const log = (line: string): void => void process.stderr.write(line + '\n');
    log(`${model.name} (${model.variant.name}, ${model.runsOn}), ${label}, ${v.tokens} greedy tokens per case, ${v.rounds} rounds …`);
    const cases = lookupCases(passages);
    // the model's own generation settings (the built-in model: greedy, repetition penalty 1.3, without which its
    // greedy text falls into loops that flatter lookup); --repetition-penalty 1 shows the loops
    const sampling: SamplingOptions = { ...generationDefaults(model.dir), temperature: 0 };
    if (v['repetition-penalty'] !== undefined) sampling.repetitionPenalty = number(v['repetition-penalty'], 'repetition-penalty', { min: 1 });
    log(`greedy, repetition penalty ${sampling.repetitionPenalty ?? 1}`);
    const { results, load1m } = await measureLookup(model, spec.spec, cases, {
      tokens: number(v.tokens, 'tokens', { integer: true, min: 1 }),
      rounds: number(v.rounds, 'rounds', { integer: true, min: 1 }),
      sampling,
      onProgress: log,
    });
    process.stdout.write(`${model.name}, ${label}, greedy with repetition penalty ${sampling.repetitionPenalty ?? 1} (${describeMachine(machineInfo())}, load ${load1m.join(' → ')})\n${LOOKUP_TABLE_HEAD}\n`);
    for (const r of results) process.stdout.write(`${lookupRow(r)}\n`);
    if (v.json) {
      mkdirSync(dirname(resolve(v.json)), { recursive: true });
      writeFileSync(resolve(v.json), JSON.stringify({ model: model.name, policy: label, machine: machineInfo(), load1m, passages, results }, null, 2));
    }
  } finally {
    await model.dispose();
  }
}
