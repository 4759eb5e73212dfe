import { mkdirSync, writeFileSync } from 'node:fs';
import { BENCH_SERVE_HELP, benchServeCommand } from './bench-serve-command.js';
import { dirname, resolve } from 'node:path';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { Model } from '../engine/model.js';
import type { PolicyLatencyResult } from '../eval/latency-bench.js';
import { latencyPlotSvg } from '../eval/latency-plot.js';
import { latencyTable, sinkSpeedup, type LatencyReport } from '../eval/latency-report.js';
import { latencyWorkerPath, runJobInProcess, runJobIsolated } from '../eval/latency-run.js';
import { describeMachine, loadNow, machineInfo } from '../eval/machine-info.js';
import { policyList } from '../eval/policy-list.js';
import { formatDuration } from '../eval/progress.js';
import { readTextFile } from '../eval/text-stream.js';
import { isShapeName, parameterCount, SHAPE_NAMES, SHAPES, shapeModelDir } from '../../native-models/shapes.js';
import { defaultModelDir } from './default-model.js';
import { EvalInterrupted, shellQuote } from './eval-command.js';
import { BENCH_SNAPSHOT_BYTES_HELP, benchSnapshotBytesCommand } from './bench-snapshot-bytes-command.js';
import { number, oneOf, parse, providerFrom } from './options.js';
import { UsageError } from './usage-error.js';
import { GRAPH_LAYOUTS } from '../../native-models/decoder-graph.js';
import { WEIGHT_DTYPES } from '../../native-models/graph/linear-layers.js';
import { BENCH_SESSION_HELP, benchBranchesCommand, benchCrashCommand, benchPasteCommand, benchResumeCommand } from './bench-session-commands.js';
import { BENCH_PEERS_HELP, benchPeersCommand } from './bench-peers-command.js';
import { BENCH_EVICT_HELP, benchEvictCommand } from './bench-evict-command.js';
import { BENCH_LOOKUP_HELP, benchLookupCommand } from './bench-lookup-command.js';
import { BENCH_SEARCH_HELP, benchSearchCommand } from './bench-search-command.js';
import { BENCH_GPU_HELP, benchGpuCommand } from './bench-gpu-command.js';

export const BENCH_HELP = `${BENCH_SERVE_HELP}
perpetua bench latency [--model DIR | --shape ${SHAPE_NAMES.join('|')}] [--policies dense,window,recompute,sink]
    [--window L] [--sink S] [--tokens N] [--points K] [--samples M] [--text FILE] [--json OUT.json] [--plot OUT.svg]
    [--in-process] [--ep cpu|...]
  Per-token decode latency (p50, p90) at K positions along an N-token stream and peak RSS for each policy (each in
  its own process), the cost of eviction steps, and the speedup of sink over recompute. --shape builds (once, under
  the temp folder) a random-weight model with that real model's exact architecture, as [--layout appending|fused|reference]
  [--dtype fp32|fp16|q4|q4_0].
${BENCH_PEERS_HELP}
${BENCH_EVICT_HELP}
${BENCH_LOOKUP_HELP}
${BENCH_SESSION_HELP}
${BENCH_SNAPSHOT_BYTES_HELP}
${BENCH_SEARCH_HELP}
${BENCH_GPU_HELP}`;

const BENCH_OPTIONS = {
  model: { type: 'string' },
  shape: { type: 'string' },
  ep: { type: 'string', default: 'cpu' },
  policies: { type: 'string', default: 'dense,window,recompute,sink' },
  window: { type: 'string', default: '1024' },
  sink: { type: 'string', default: String(DEFAULT_POLICY.sink) },
  tokens: { type: 'string', default: '2048' },
  points: { type: 'string', default: '8' },
  samples: { type: 'string', default: '16' },
  seed: { type: 'string', default: '1' },
  text: { type: 'string' },
  'evict-chunk': { type: 'string', default: String(DEFAULT_POLICY.evictChunk) },
  json: { type: 'string' },
  plot: { type: 'string' },
  'in-process': { type: 'boolean', default: false },
  layout: { type: 'string', default: 'appending' },
  dtype: { type: 'string', default: 'fp32' },
  quiet: { type: 'boolean', default: false },
} as const;

export async function benchCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'serve') return benchServeCommand(rest);
  if (sub === 'resume') return benchResumeCommand(rest);
  if (sub === 'snapshot-bytes') return benchSnapshotBytesCommand(rest);
  if (sub === 'crash') return benchCrashCommand(rest);
  if (sub === 'peers') return benchPeersCommand(rest);
  if (sub === 'evict') return benchEvictCommand(rest);
  if (sub === 'lookup') return benchLookupCommand(rest);
  if (sub === 'paste') return benchPasteCommand(rest);
  if (sub === 'branches') return benchBranchesCommand(rest);
  if (sub === 'search') return benchSearchCommand(rest);
  if (sub === 'gpu') return benchGpuCommand(rest);
  if (sub !== 'latency') {
    throw new UsageError(`bench needs a subcommand: latency, peers, evict, lookup, resume, snapshot-bytes, crash, paste, branches, search or gpu (perpetua bench latency …), not "${sub ?? ''}".`);
  }
  const { values: v } = parse(rest, BENCH_OPTIONS);
  if (v.model !== undefined && v.shape !== undefined) throw new UsageError('Give either --model or --shape, not both.');
  if (v.shape !== undefined && !isShapeName(v.shape)) {
    throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  }
  if (v.text !== undefined) readTextFile(v.text);
  const window = number(v.window, 'window', { integer: true, min: 1 });
  const sink = number(v.sink, 'sink', { integer: true, min: 0 });
  const evictChunk = number(v['evict-chunk'], 'evict-chunk', { integer: true, min: 1 });
  const policies = policyList(v.policies, { window, sink, evictChunk });
  const tokens = number(v.tokens, 'tokens', { integer: true, min: 2 });
  const points = number(v.points, 'points', { integer: true, min: 1 });
  const samples = number(v.samples, 'samples', { integer: true, min: 1 });
  const seed = number(v.seed, 'seed', { integer: true, min: 0 });
  const ep = providerFrom(v);
  const log = (line: string): void => {
    if (!v.quiet) process.stderr.write(line + '\n');
  };

  const shape = v.shape !== undefined && isShapeName(v.shape) ? SHAPES[v.shape] : null;
  const graph = { layout: oneOf(v.layout, GRAPH_LAYOUTS, 'layout'), dtype: oneOf(v.dtype, WEIGHT_DTYPES, 'dtype') };
  const modelDir = shape ? shapeModelDir(shape.name, { onStatus: log, graph }) : resolve(v.model ?? defaultModelDir());
  const model = await Model.load(modelDir, { executionProvider: ep });
  if (model.providerFallbackReason) log(model.providerFallbackReason);
  const worker = v['in-process'] ? null : latencyWorkerPath();
  const report: LatencyReport = {
    kind: 'perpetua.bench.latency',
    version: 1,
    command: ['perpetua', 'bench', ...args].map(shellQuote).join(' '),
    model: {
      dir: model.dir,
      name: model.name,
      shape: shape ? { name: shape.name, source: shape.source, parameters: parameterCount(shape.options) } : null,
      fingerprint: model.fingerprint,
      provider: model.provider,
      layers: model.config.layers,
      hiddenSize: model.config.hiddenSize,
      vocabSize: model.config.vocabSize,
    },
    settings: { tokens, window, sink, points, samples, evictChunk, stream: v.text ? resolve(v.text) : 'synthetic' },
    machine: machineInfo(),
    startedAt: new Date().toISOString(),
    finishedAt: '',
    loadAverageAtEnd: [],
    interrupted: false,
    results: [],
    speedup: null,
  };
  if (worker) await model.dispose(); // each policy loads its own copy in its own process

  const controller = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('\nInterrupted: writing what was measured so far (Ctrl-C again to quit at once).\n');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  const write = (): void => {
    report.finishedAt = new Date().toISOString();
    report.loadAverageAtEnd = loadNow();
    report.interrupted = controller.signal.aborted;
    report.speedup = sinkSpeedup(report.results);
    for (const [file, text] of [
      [v.json, () => JSON.stringify(report, null, 2) + '\n'],
      [v.plot, () => latencyPlotSvg(report)],
    ] as const) {
      if (!file) continue;
      mkdirSync(dirname(resolve(file)), { recursive: true });
      writeFileSync(file, text());
    }
  };
  try {
    for (const [i, p] of policies.entries()) {
      if (controller.signal.aborted) break;
      const started = performance.now();
      const job = { modelDir, ep, label: p.label, spec: p.spec, tokens, points, samples, seed, textFile: v.text, isolated: Boolean(worker) };
      const onPoint = (pt: PolicyLatencyResult['points'][number], index: number, count: number): void => {
        const elapsed = (performance.now() - started) / 1000;
        const eta = (elapsed / (index + 1)) * (count - index - 1);
        log(
          `[${i + 1}/${policies.length}] ${p.label}: position ${pt.position}/${tokens}, p50 ${pt.p50Ms.toFixed(2)} ms, p90 ${pt.p90Ms.toFixed(2)} ms per token ` +
            `(${(1000 / pt.p50Ms).toFixed(1)} tokens/s), elapsed ${formatDuration(elapsed)}, ETA ${formatDuration(eta)}`,
        );
      };
      const result = worker
        ? await runJobIsolated(job, worker, { signal: controller.signal, onPoint })
        : await runJobInProcess(job, { signal: controller.signal, onPoint }, model);
      report.results.push(result);
      write();
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (!worker) await model.dispose();
  }
  write();
  const written = [v.json, v.plot].filter(Boolean).join(' and ');
  if (report.interrupted) {
    const done = report.results.map((r) => `${r.policy} ${r.points.length} of ${points} points`).join(', ') || 'nothing';
    throw new EvalInterrupted(`Interrupted after ${done}${written ? `; wrote that to ${written}` : ''}.`);
  }
  const what = shape ? `${shape.source} architecture (random weights, ${model.config.layers} layers)` : model.name;
  process.stdout.write(`${what}, ${tokens}-token stream, cache size ${window} (${describeMachine(report.machine)})\n`);
  process.stdout.write(latencyTable(report) + '\n');
  for (const r of report.results) {
    const e = r.evictions;
    if (e) {
      process.stdout.write(
        `${r.policy}: ${e.samples} eviction steps p50 ${e.p50Ms.toFixed(2)} ms (${(e.p50Ms / e.normalP50Ms).toFixed(2)}× the ${e.normalP50Ms.toFixed(2)} ms of a normal step), p99 ${e.p99Ms.toFixed(2)} ms, max ${e.maxMs.toFixed(2)} ms\n`,
      );
    }
  }
  if (written) log(`Wrote ${written}.`);
}
