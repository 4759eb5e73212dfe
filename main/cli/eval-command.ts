import { DEFAULT_POLICY } from '../policy/policy.js';
import { PerpetuaError } from '../shared/errors.js';
import { Model } from '../engine/model.js';
import { describeMachine } from '../eval/machine-info.js';
import { policyList } from '../eval/policy-list.js';
import { runPplEval, writePplOutputs } from '../eval/ppl-eval.js';
import { pplTable, type PplReport } from '../eval/ppl-report.js';
import { readTextFile } from '../eval/text-stream.js';
import { defaultModelDir } from './default-model.js';
import { number, parse, providerFrom } from './options.js';
import { UsageError } from './usage-error.js';

export const EVAL_HELP = `perpetua eval ppl --text FILE [--model DIR] [--policies dense,window,recompute,sink] [--window L] [--sink S]
    [--tokens N] [--chunk C] [--interval K] [--evict-chunk E] [--json OUT.json] [--plot OUT.svg] [--ep cpu|...]
  Streaming perplexity of the first N+1 tokens of FILE under each cache policy (StreamingLLM's eval_long_ppl:
  token t+1 is scored from the logits after token t). L is the cache size of every bounded policy (window and
  recompute keep L tokens, sink keeps S sinks + L-S recent ones); --chunk C feeds C tokens per run for speed
  (exact for dense, window and sink; recompute is exact only with C = 1). Ctrl-C writes what was measured so far.`;

/** Ctrl-C during a run: the partial results were written, and the command says so as its error sentence. */
export class EvalInterrupted extends PerpetuaError {
  override readonly code = 'cancelled';
}

const EVAL_OPTIONS = {
  model: { type: 'string' },
  ep: { type: 'string', default: 'cpu' },
  variant: { type: 'string' },
  text: { type: 'string' },
  policies: { type: 'string', default: 'dense,window,recompute,sink' },
  window: { type: 'string', default: '1024' },
  sink: { type: 'string', default: String(DEFAULT_POLICY.sink) },
  tokens: { type: 'string', default: '2048' },
  chunk: { type: 'string', default: '1' },
  interval: { type: 'string' },
  'evict-chunk': { type: 'string', default: String(DEFAULT_POLICY.evictChunk) },
  json: { type: 'string' },
  plot: { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const;

export async function evalCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'ppl') throw new UsageError(`eval needs the subcommand "ppl" (perpetua eval ppl --text FILE …), not "${sub ?? ''}".`);
  const { values: v } = parse(rest, EVAL_OPTIONS);
  if (v.text === undefined) throw new UsageError('eval ppl needs --text FILE.');
  readTextFile(v.text); // a missing or empty text fails before the model loads
  const window = number(v.window, 'window', { integer: true, min: 1 });
  const sink = number(v.sink, 'sink', { integer: true, min: 0 });
  const evictChunk = number(v['evict-chunk'], 'evict-chunk', { integer: true, min: 1 });
  const policies = policyList(v.policies, { window, sink, evictChunk });
  const tokens = number(v.tokens, 'tokens', { integer: true, min: 1 });
  const chunk = number(v.chunk, 'chunk', { integer: true, min: 1 });
  const interval = v.interval === undefined ? undefined : number(v.interval, 'interval', { integer: true, min: 1 });
  const progress = v.quiet ? null : process.stderr;

  const model = await Model.load(v.model ?? defaultModelDir(), { executionProvider: providerFrom(v), variant: v.variant });
  if (model.providerFallbackReason) process.stderr.write(`${model.providerFallbackReason}\n`);
  const controller = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('\nInterrupted: writing what was measured so far (Ctrl-C again to quit at once).\n');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  let report: PplReport;
  try {
    report = await runPplEval(model, {
      textFile: v.text,
      policies,
      tokens,
      window,
      sink,
      chunk,
      interval,
      evictChunk,
      command: ['perpetua', 'eval', ...args].map(shellQuote).join(' '),
      signal: controller.signal,
      progress,
      // keep the files current after every policy, so a crash loses at most one policy's run
      onReport: (r) => writePplOutputs(r, v.json, v.plot),
    });
  } finally {
    process.off('SIGINT', onSigint);
    await model.dispose();
  }
  writePplOutputs(report, v.json, v.plot);
  const written = [v.json, v.plot].filter(Boolean).join(' and ');
  if (report.interrupted) {
    const done = report.results.map((r) => `${r.policy} ${r.tokens} tokens`).join(', ') || 'nothing';
    throw new EvalInterrupted(`Interrupted after ${done}${written ? `; wrote that to ${written}` : ''}.`);
  }
  process.stdout.write(`${model.name}, ${report.settings.tokens} tokens of ${v.text} (${describeMachine(report.machine)})\n`);
  process.stdout.write(pplTable(report) + '\n');
  if (written && !v.quiet) process.stderr.write(`Wrote ${written}.\n`);
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
