import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createPolicy } from '../cache/create-policy.js';
import { Engine, type LookupStats } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import type { SamplingOptions } from '../engine/sampler.js';
import type { PolicySpec } from '../policy/policy.js';
import { percentile } from './percentile.js';

/** One prompt of the lookup benchmark: what it asks the model to do with the text it holds. */
export interface LookupCase {
  name: string;
  /** quote, continue, summarise, edit code */
  kind: string;
  prompt: string;
}

export interface LookupCaseResult {
  name: string;
  kind: string;
  promptTokens: number;
  tokens: number;
  /** per mode: median over rounds */
  plain: { tokensPerSecond: number; cpuMsPerToken: number };
  lookup: { tokensPerSecond: number; cpuMsPerToken: number };
  stats: LookupStats;
  /** accepted / drafted */
  acceptance: number;
  /** tokens per model run with lookup (1 without) */
  tokensPerRun: number;
  /** plain CPU time per token over lookup's */
  speedup: number;
  /** the two modes gave the same tokens in every round */
  identical: boolean;
  /** the answer's opening, to see what was decoded */
  sample: string;
}

const CODE = `export function totalPrice(items: Item[], taxRate: number): number {
  let total = 0;
  for (const item of items) {
    if (item.quantity <= 0) continue;
    const price = item.unitPrice * item.quantity;
    total += item.discount ? price * (1 - item.discount) : price;
  }
  return Math.round(total * (1 + taxRate) * 100) / 100;
}

export function cheapestItem(items: Item[]): Item | null {
  let best: Item | null = null;
  for (const item of items) {
    if (item.quantity <= 0) continue;
    if (!best || item.unitPrice < best.unitPrice) best = item;
  }
  return best;
}`;

/** A passage of `chars` characters from a book, starting at a paragraph about a third of the way in. */
export function passageOf(file: string, chars: number): string {
  const text = readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  const from = text.indexOf('\n\n', Math.floor(text.length / 3)) + 2;
  const end = text.lastIndexOf(' ', from + chars);
  return text.slice(from, end).trim();
}

/**
 * Prompts that make a model quote, continue and summarise a passage it was given, and edit code it was given: the
 * conversations in which an answer repeats the chat's own text, and one (continue) in which it mostly does not.
 */
export function lookupCases(passages: { name: string; text: string }[]): LookupCase[] {
  const cases: LookupCase[] = [];
  for (const p of passages) {
    const opening = p.text.slice(0, p.text.indexOf(' ', 120));
    cases.push({ name: `${p.name}: quote`, kind: 'quote', prompt: `${p.text}\n\nThe passage above, word for word:\n\n${opening}` });
    cases.push({ name: `${p.name}: continue`, kind: 'continue', prompt: p.text });
    cases.push({ name: `${p.name}: summarise`, kind: 'summarise', prompt: `${p.text}\n\nIn short: ${opening.split(/[.,;]/)[0]}` });
  }
  const firstLine = CODE.split('\n')[0];
  cases.push({
    name: 'code: rename total to sum',
    kind: 'edit code',
    prompt: `${CODE}\n\n// The same code with \`total\` renamed to \`sum\`:\n\n${firstLine.replace('total', 'sum')}\n  let sum = 0;\n`,
  });
  return cases;
}

/**
 * Answers that quote their context, for measuring lookup decoding where a model's own answer would not: the passage
 * itself after the quote prompt's opening (what a model that quotes exactly writes), and the code with `total` renamed
 * after the code-editing prompt. Random-weight shapes decode these to time what lookup gains on quoting text.
 */
export function quotingAnswers(passage: { name: string; text: string }): { case: LookupCase; answer: string }[] {
  const [quote, , , edit] = lookupCases([passage]);
  const opening = passage.text.slice(0, passage.text.indexOf(' ', 120));
  const edited = CODE.replace(/\btotal\b/g, 'sum').replace('totalPrice', 'sumPrice');
  const afterSum = edited.slice(edited.indexOf('let sum = 0;\n') + 'let sum = 0;\n'.length);
  return [
    { case: { ...quote, name: `${passage.name}: quote, the passage itself`, kind: 'quote: the passage itself' }, answer: passage.text.slice(opening.length) },
    { case: { ...edit, kind: 'edit code: the renamed code' }, answer: afterSum },
  ];
}

/**
 * Each case decoded with the given sampling (the model's generation_config.json in the bench: greedy with its
 * repetition penalty for the built-in model) with and without lookup decoding, the two modes taking turns round by round (order
 * reversed every other round) on one model: tok/s and CPU ms per token (medians), and what was drafted and kept.
 */
export async function measureLookup(
  model: Model,
  spec: PolicySpec,
  cases: LookupCase[],
  opts: { tokens: number; rounds: number; sampling?: SamplingOptions; onProgress?: (line: string) => void },
): Promise<{ results: LookupCaseResult[]; load1m: number[] }> {
  const load = [loadavg()[0]];
  const results: LookupCaseResult[] = [];
  for (const c of cases) {
    const ids = [...model.streamPrefix, ...model.tokenizer.encode(c.prompt, true)];
    const samples = { plain: [] as { tps: number; cpu: number }[], lookup: [] as { tps: number; cpu: number }[] };
    let stats: LookupStats = { runs: 0, drafted: 0, accepted: 0 };
    const outputs: Record<'plain' | 'lookup', string[]> = { plain: [], lookup: [] };
    let tokens = 0;
    let sample = '';
    for (let r = 0; r < opts.rounds; r++) {
      const order: ('plain' | 'lookup')[] = r % 2 === 0 ? ['plain', 'lookup'] : ['lookup', 'plain'];
      for (const mode of order) {
        const engine = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
        await engine.feed(ids);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let done: { tokens: number[]; text: string; lookup: LookupStats } | null = null;
        for await (const ev of engine.generate({ maxTokens: opts.tokens, ignoreEos: true, sampling: opts.sampling, lookup: mode === 'lookup' })) if (ev.type === 'done') done = ev;
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(c0);
        engine.policy.dispose();
        tokens = done!.tokens.length;
        samples[mode].push({ tps: (1000 * tokens) / ms, cpu: (cpu.user + cpu.system) / 1000 / tokens });
        outputs[mode].push(done!.tokens.join(','));
        if (mode === 'lookup') stats = done!.lookup;
        sample = done!.text;
      }
    }
    const med = (s: { tps: number; cpu: number }[]) => ({ tokensPerSecond: percentile(s.map((x) => x.tps), 0.5), cpuMsPerToken: percentile(s.map((x) => x.cpu), 0.5) });
    const [plain, lookup] = [med(samples.plain), med(samples.lookup)];
    const result: LookupCaseResult = {
      name: c.name,
      kind: c.kind,
      promptTokens: ids.length,
      tokens,
      plain,
      lookup,
      stats,
      acceptance: stats.drafted ? stats.accepted / stats.drafted : 0,
      tokensPerRun: tokens / Math.max(1, tokens - stats.accepted),
      // in CPU time: other processes stretch wall times on a shared machine
      speedup: plain.cpuMsPerToken / lookup.cpuMsPerToken,
      identical: outputs.plain.every((o, i) => o === outputs.lookup[i]),
      sample: sample.slice(0, 200),
    };
    results.push(result);
    opts.onProgress?.(lookupRow(result));
    load.push(loadavg()[0]);
  }
  return { results, load1m: load.map((l) => Number(l.toFixed(2))) };
}

export const LOOKUP_TABLE_HEAD =
  '| case | prompt tokens | drafted | accepted | acceptance | tokens per run | plain tok/s | lookup tok/s | plain CPU ms/token | lookup CPU ms/token | speed-up (CPU) | same tokens |\n' +
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';

export function lookupRow(r: LookupCaseResult): string {
  return (
    `| ${r.name} | ${r.promptTokens} | ${r.stats.drafted} | ${r.stats.accepted} | ${(100 * r.acceptance).toFixed(0)} % | ${r.tokensPerRun.toFixed(2)} | ` +
    `${r.plain.tokensPerSecond.toFixed(1)} | ${r.lookup.tokensPerSecond.toFixed(1)} | ${r.plain.cpuMsPerToken.toFixed(2)} | ${r.lookup.cpuMsPerToken.toFixed(2)} | ` +
    `${r.speedup.toFixed(2)}× | ${r.identical ? 'yes' : 'NO'} |`
  );
}
