import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseModelConfig, type ModelConfig } from '../engine/model-config.js';
import { describeMachine, loadNow, machineInfo } from '../eval/machine-info.js';
import { llamaCppRunner, perpetuaRunner, transformersJsRunner, type MissingPeer, type PeerRunner } from '../eval/peer-runners.js';
import { measureReadBandwidth, runPeers, type PeerResult, type PeerSettings } from '../eval/peers-bench.js';
import { syntheticIds } from '../eval/peer-prompt.js';
import { isShapeName, SHAPE_NAMES, SHAPES, shapeCheckpointDir, shapeGgufFile, shapeModelDir } from '../../native-models/shapes.js';
import type { GraphOptions } from '../../native-models/decoder-graph.js';
import { shellQuote } from './eval-command.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_PEERS_HELP = `perpetua bench peers [--shape ${SHAPE_NAMES.join('|')}] [--rounds R] [--prompt P] [--decode N] [--threads T]
    [--engines perpetua,llama.cpp,transformers.js] [--layouts appending,fused] [--json OUT.json] [--markdown OUT.md]
  Perpetua vs llama.cpp (node-llama-cpp's prebuilt CPU binary) vs transformers.js on the same random weights
  (one F16 checkpoint, converted to ONNX fp32/fp16/q4_0/q4 and to GGUF F16/Q4_0), interleaved round by round:
  decode tok/s, CPU ms per token, median and p99 step, prefill tok/s, load average, and the bound that the
  measured memory read bandwidth sets.`;

/** Bytes per weight as each format stores matrices: 4-bit blocks of 32 carry a float16 scale (and a zero point). */
const BYTES_PER_WEIGHT: Record<string, number> = { fp32: 4, F32: 4, fp16: 2, F16: 2, q4_0: 18 / 32, Q4_0: 18 / 32, q4: 18.5 / 32 };

/** Matrix bytes one decode step reads: every layer's projections and the output matrix, once. */
export function matrixBytesPerToken(c: ModelConfig, weights: string): number {
  const attn = c.hiddenSize * c.headDim * (2 * c.heads + 2 * c.kvHeads);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  return (c.layers * (attn + mlp) + c.vocabSize * c.hiddenSize) * BYTES_PER_WEIGHT[weights];
}

export async function benchPeersCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    shape: { type: 'string', default: 'smollm2-135m' },
    rounds: { type: 'string', default: '5' },
    prompt: { type: 'string', default: '256' },
    decode: { type: 'string', default: '48' },
    warmup: { type: 'string', default: '4' },
    threads: { type: 'string', default: '1' },
    engines: { type: 'string', default: 'perpetua,llama.cpp,transformers.js' },
    layouts: { type: 'string', default: 'appending' },
    json: { type: 'string' },
    markdown: { type: 'string' },
  });
  if (!isShapeName(v.shape)) throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  const s: PeerSettings = {
    rounds: number(v.rounds, 'rounds', { integer: true, min: 1 }),
    prompt: number(v.prompt, 'prompt', { integer: true, min: 2 }),
    decode: number(v.decode, 'decode', { integer: true, min: 2 }),
    warmup: number(v.warmup, 'warmup', { integer: true, min: 0 }),
  };
  const threads = number(v.threads, 'threads', { integer: true, min: 1 });
  const engines = new Set(v.engines.split(','));
  const log = (line: string) => process.stderr.write(line + '\n');
  const shape = SHAPES[v.shape];
  const checkpoint = shapeCheckpointDir(shape.name, { onStatus: log });
  const config = parseModelConfig(JSON.parse(readFileSync(join(checkpoint, 'config.json'), 'utf8')));
  const onnx = (graph: GraphOptions) => shapeModelDir(shape.name, { graph, onStatus: log });

  const planned: [string, string, () => Promise<PeerRunner | MissingPeer>][] = [];
  if (engines.has('perpetua')) {
    const layouts = v.layouts.split(',').map((l) => oneOf(l, ['appending', 'fused'] as const, 'layouts'));
    for (const layout of layouts) {
      // the appending graph is Perpetua's CPU layout; "fused" (GroupQueryAttention) is the row to compare it with
      const name = layout === 'appending' ? 'Perpetua' : 'Perpetua (GQA graph)';
      for (const dtype of ['fp32', 'fp16', 'q4_0', 'q4'] as const) {
        planned.push([name, dtype, () => perpetuaRunner(onnx({ layout, dtype }), dtype, String(threads), name)]);
      }
    }
  }
  if (engines.has('llama.cpp')) {
    for (const type of ['F16', 'Q4_0'] as const) {
      planned.push(['llama.cpp', type, () => llamaCppRunner(shapeGgufFile(shape.name, type, { onStatus: log }), type, threads, s.prompt + s.decode + 16)]);
    }
  }
  if (engines.has('transformers.js')) {
    for (const dtype of ['fp32', 'q4'] as const) {
      planned.push(['transformers.js', dtype, () => transformersJsRunner(onnx({ layout: 'reference', dtype }), dtype)]);
    }
  }
  const runners: { runner: PeerRunner; bytesPerToken: number }[] = [];
  const missing: MissingPeer[] = [];
  for (const [name, weights, open] of planned) {
    log(`Loading ${name} ${weights} …`);
    const r = await open();
    if ('reason' in r) missing.push(r);
    else runners.push({ runner: r, bytesPerToken: matrixBytesPerToken(config, weights) });
  }
  const bandwidth = measureReadBandwidth();
  log(`Memory read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s; ${runners.length} engines, ${s.rounds} interleaved rounds.`);
  const startLoad = loadNow();
  const prompt = syntheticIds(s.prompt, config.vocabSize, config.bosTokenId ?? 1);
  let results: PeerResult[];
  try {
    results = await runPeers(runners, prompt, s, bandwidth, (round, name, ms) =>
      log(`round ${round + 1}/${s.rounds}: ${name} ${ms.toFixed(1)} ms per token`),
    );
  } finally {
    for (const { runner } of runners) await runner.dispose();
  }
  const report = {
    kind: 'perpetua.bench.peers',
    version: 1,
    command: ['perpetua', 'bench', 'peers', ...args].map(shellQuote).join(' '),
    shape: { name: shape.name, source: shape.source },
    settings: { ...s, threads },
    machine: machineInfo(),
    loadAverage: { start: startLoad, end: loadNow() },
    bandwidthGBps: bandwidth / 1e9,
    missing,
    results,
  };
  const table = peersTable(report.results, report.bandwidthGBps);
  const text = `${shape.source} architecture, random weights from one F16 checkpoint; ${describeMachine(report.machine)}; load average ${startLoad.join(' ')} → ${report.loadAverage.end.join(' ')}\n${table}${missing.map((m) => `\n${m.name}: ${m.reason}`).join('')}\n`;
  process.stdout.write(text);
  for (const [file, body] of [[v.json, JSON.stringify(report, null, 2) + '\n'], [v.markdown, text]] as const) {
    if (!file) continue;
    mkdirSync(dirname(resolve(file)), { recursive: true });
    writeFileSync(file, body);
  }
}

export function peersTable(results: PeerResult[], bandwidthGBps: number): string {
  const rows = results.map((r) => {
    const bound = (bandwidthGBps * 1e9) / r.bytesPerToken;
    return `| ${r.name} | ${r.weights} | ${r.decode.tokensPerSecond.toFixed(1)} | ${r.decode.cpuMsPerToken.toFixed(1)} | ${r.decode.p50Ms.toFixed(1)} | ${r.decode.p99Ms.toFixed(1)} | ${r.prefill.tokensPerSecond.toFixed(0)} | ${bound.toFixed(0)} | ${(100 * r.ofBandwidthBound).toFixed(0)} % | ${r.load.join(' ')} |`;
  });
  return [
    '| engine | weights | decode tok/s | CPU ms/token | p50 step ms | p99 step ms | prefill tok/s | bandwidth bound tok/s | of bound | load (1 min) per round |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
