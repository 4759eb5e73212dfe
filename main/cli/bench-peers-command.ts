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
import { Model } from '../engine/model.js';
import { Engine } from '../engine/engine.js';
import { createPolicy } from '../cache/create-policy.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { lookupCases, passageOf, quotingAnswers } from '../eval/lookup-bench.js';
import { replayLookup, type LookupText } from '../eval/lookup-replay.js';
import { percentile } from '../eval/percentile.js';
import { defaultModelDir, packageRoot } from './default-model.js';
import { generationDefaults } from '../engine/generation-config.js';
import { existsSync, readdirSync } from 'node:fs';
import { Q4_BLOCK_SIZES, type Q4BlockSize } from '../../native-models/graph/weight-codec.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_PEERS_HELP = `perpetua bench peers [--shape ${SHAPE_NAMES.join('|')}] [--rounds R] [--prompt P[,P2…]] [--decode N] [--threads T]
    [--engines perpetua,llama.cpp,transformers.js] [--layouts appending,fused] [--dtypes fp32,fp16,q4_0,q4] [--block-size 32|64|128]
    [--llama-types F16,Q4_0] [--lookup auto|off] [--corpora DIR] [--chars C] [--json OUT.json] [--markdown OUT.md]
  Perpetua vs llama.cpp (node-llama-cpp's prebuilt CPU binary) vs transformers.js on the same random weights
  (one F16 checkpoint, converted to ONNX fp32/fp16/q4_0/q4 and to GGUF F16/Q4_0), interleaved round by round:
  decode tok/s, CPU ms per token, median and p99 step, prefill tok/s, load average, and the bound that the
  measured memory read bandwidth sets. Each prompt length is its own case (e.g. --prompt 256,968: 288 and 1,000
  cached tokens after 32 decoded). With --lookup auto (a C-character passage, default 1300, of the first PG-19 book in
  --corpora, default ../shared/corpora), the
  built-in model answers real prompts (quote, continue, summarise, edit code), two answers quote their prompt exactly
  (the passage itself, the renamed code), and Perpetua's first 4-bit variant decodes each answer at each prompt length
  with lookup decoding (a draft kept where it is the answer's next token) and without: what lookup decoding costs and
  gains at this shape for that text.`;

/** Bytes per weight as each format stores matrices: a 4-bit block carries a float16 scale (and a zero point). */
function bytesPerWeight(weights: string, block: number): number {
  const perBlock: Record<string, number> = { q4_0: 2, Q4_0: 2, q4: 2.5 };
  const b = weights === 'Q4_0' ? 32 : block;
  return perBlock[weights] !== undefined ? (b / 2 + perBlock[weights]) / b : { fp32: 4, F32: 4, fp16: 2, F16: 2 }[weights]!;
}

/** Matrix bytes one decode step reads: every layer's projections and the output matrix, once. */
export function matrixBytesPerToken(c: ModelConfig, weights: string, block = 32): number {
  const attn = c.hiddenSize * c.headDim * (2 * c.heads + 2 * c.kvHeads);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  return (c.layers * (attn + mlp) + c.vocabSize * c.hiddenSize) * bytesPerWeight(weights, block);
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
    dtypes: { type: 'string', default: 'fp32,fp16,q4_0,q4' },
    'block-size': { type: 'string', default: '32' },
    lookup: { type: 'string', default: 'auto' },
    corpora: { type: 'string' },
    chars: { type: 'string', default: '1300' },
    'llama-types': { type: 'string', default: 'F16,Q4_0' },
    json: { type: 'string' },
    markdown: { type: 'string' },
  });
  if (!isShapeName(v.shape)) throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  const prompts = v.prompt.split(',').map((p) => number(p, 'prompt', { integer: true, min: 2 }));
  const base = {
    rounds: number(v.rounds, 'rounds', { integer: true, min: 1 }),
    decode: number(v.decode, 'decode', { integer: true, min: 2 }),
    warmup: number(v.warmup, 'warmup', { integer: true, min: 0 }),
  };
  const threads = number(v.threads, 'threads', { integer: true, min: 1 });
  const block = Number(oneOf(v['block-size'], Q4_BLOCK_SIZES.map(String), 'block-size')) as Q4BlockSize;
  const dtypes = v.dtypes.split(',').map((d) => oneOf(d, ['fp32', 'fp16', 'q4_0', 'q4'] as const, 'dtypes'));
  const engines = new Set(v.engines.split(','));
  const log = (line: string) => process.stderr.write(line + '\n');
  const shape = SHAPES[v.shape];
  const checkpoint = shapeCheckpointDir(shape.name, { onStatus: log });
  const config = parseModelConfig(JSON.parse(readFileSync(join(checkpoint, 'config.json'), 'utf8')));
  const onnx = (graph: GraphOptions) => shapeModelDir(shape.name, { graph, onStatus: log });
  const fourBit = (d: string) => d === 'q4' || d === 'q4_0';
  const label = (d: string) => (fourBit(d) && block !== 32 ? `${d} b${block}` : d);

  const chars = number(v.chars, 'chars', { integer: true, min: 200 });
  const traces = v.lookup === 'off' ? [] : await lookupTraces(v.corpora, chars, base.decode, log);
  const planned: [string, string, () => Promise<PeerRunner | MissingPeer>][] = [];
  const lookupDirs: { weights: string; dir: string }[] = [];
  if (engines.has('perpetua')) {
    const layouts = v.layouts.split(',').map((l) => oneOf(l, ['appending', 'fused'] as const, 'layouts'));
    for (const layout of layouts) {
      // the appending graph is Perpetua's CPU layout; "fused" (GroupQueryAttention) is the row to compare it with
      const name = layout === 'appending' ? 'Perpetua' : 'Perpetua (GQA graph)';
      for (const dtype of dtypes) {
        const graph: GraphOptions = { layout, dtype, ...(fourBit(dtype) && block !== 32 ? { blockSize: block } : {}) };
        planned.push([name, label(dtype), () => perpetuaRunner(onnx(graph), label(dtype), String(threads), name)]);
        if (layout === 'appending' && fourBit(dtype) && !lookupDirs.length) lookupDirs.push({ weights: label(dtype), dir: onnx(graph) });
      }
    }
  }
  const longest = Math.max(...prompts) + base.decode + 16;
  if (engines.has('llama.cpp')) {
    for (const type of v['llama-types'].split(',').map((t) => oneOf(t, ['F16', 'Q4_0'] as const, 'llama-types'))) {
      planned.push(['llama.cpp', type, () => llamaCppRunner(shapeGgufFile(shape.name, type, { onStatus: log }), type, threads, longest)]);
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
    else runners.push({ runner: r, bytesPerToken: matrixBytesPerToken(config, weights.split(' ')[0], block) });
  }
  const bandwidth = measureReadBandwidth();
  log(`Memory read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s; ${runners.length} engines, ${base.rounds} interleaved rounds per prompt length.`);
  const startLoad = loadNow();
  const cases: { settings: PeerSettings; cachedTokens: number; results: PeerResult[] }[] = [];
  const lookups: LookupReplayRow[] = [];
  try {
    for (const promptLength of prompts) {
      const s: PeerSettings = { ...base, prompt: promptLength };
      const prompt = syntheticIds(promptLength, config.vocabSize, config.bosTokenId ?? 1);
      const results = await runPeers(runners, prompt, s, bandwidth, (round, name, ms) =>
        log(`prompt ${promptLength}, round ${round + 1}/${s.rounds}: ${name} ${ms.toFixed(1)} ms per token`),
      );
      cases.push({ settings: s, cachedTokens: promptLength + base.decode, results });
      if (traces.length && lookupDirs.length) {
        const llama = results.find((r) => r.name === 'llama.cpp' && r.weights === 'Q4_0');
        lookups.push(...(await measureReplays(lookupDirs[0], threads, prompt, traces, base.rounds, llama, log)));
      }
    }
  } finally {
    for (const { runner } of runners) await runner.dispose();
  }
  const report = {
    kind: 'perpetua.bench.peers',
    version: 2,
    command: ['perpetua', 'bench', 'peers', ...args].map(shellQuote).join(' '),
    shape: { name: shape.name, source: shape.source },
    settings: { ...base, prompts, threads, blockSize: block },
    machine: machineInfo(),
    loadAverage: { start: startLoad, end: loadNow() },
    bandwidthGBps: bandwidth / 1e9,
    missing,
    cases,
    lookup: lookups,
  };
  const tables = cases.map((c) => `${c.cachedTokens} cached tokens at the end (prompt ${c.settings.prompt} + ${c.settings.decode} decoded):\n${peersTable(c.results, report.bandwidthGBps)}`);
  const text =
    `${shape.source} architecture, random weights from one F16 checkpoint; ${describeMachine(report.machine)}; load average ${startLoad.join(' ')} → ${report.loadAverage.end.join(' ')}\n` +
    `${tables.join('\n\n')}${lookups.length ? `\n\n${lookupTable(lookups)}` : ''}${missing.map((m) => `\n${m.name}: ${m.reason}`).join('')}\n`;
  process.stdout.write(text);
  for (const [file, body] of [[v.json, JSON.stringify(report, null, 2) + '\n'], [v.markdown, text]] as const) {
    if (!file) continue;
    mkdirSync(dirname(resolve(file)), { recursive: true });
    writeFileSync(file, body);
  }
}

/** One text's lookup runs replayed at one prompt length. */
interface LookupReplayRow {
  text: string;
  weights: string;
  cachedTokens: number;
  drafted: number;
  accepted: number;
  acceptance: number;
  tokensPerRun: number;
  plain: { tokensPerSecond: number; cpuMsPerToken: number };
  lookup: { tokensPerSecond: number; cpuMsPerToken: number };
  llamaCpp: { tokensPerSecond: number; cpuMsPerToken: number } | null;
}

/**
 * Answers on real text: two that quote their context (the passage itself after the quote prompt, the renamed code
 * after the editing prompt), then the built-in model's own answers to each case of the lookup bench on the first
 * PG-19 passage (quote, continue, summarise) and the code-editing prompt, `tokens` tokens, greedy with the model's
 * repetition penalty (its generation_config.json; without it its greedy text loops, which flatters lookup).
 */
async function lookupTraces(corpora: string | undefined, chars: number, tokens: number, log: (line: string) => void): Promise<{ text: string; answer: LookupText }[]> {
  const dir = resolve(corpora ?? join(packageRoot(), '..', 'shared', 'corpora'));
  const book = existsSync(dir) ? readdirSync(dir).filter((f) => /^pg19-test-.*\.txt$/.test(f)).sort()[0] : undefined;
  if (!book) {
    log(`No PG-19 passages in ${dir}: lookup decoding is not measured.`);
    return [];
  }
  const model = await Model.load(defaultModelDir());
  try {
    const traces: { text: string; answer: LookupText }[] = [];
    const passage = { name: book.replace(/^pg19-test-|\.txt$/g, ''), text: passageOf(join(dir, book), chars) };
    for (const q of quotingAnswers(passage)) {
      const prompt = [...model.streamPrefix, ...model.tokenizer.encode(q.case.prompt, true)];
      traces.push({ text: q.case.kind, answer: { prompt, answer: model.tokenizer.encode(q.answer, false).slice(0, tokens) } });
    }
    for (const c of lookupCases([passage])) {
      const engine = new Engine(model, createPolicy({ ...DEFAULT_POLICY, name: 'sink', sink: 4, window: 496 }, model.config, model.kvEditor));
      const prompt = [...model.streamPrefix, ...model.tokenizer.encode(c.prompt, true)];
      await engine.feed(prompt);
      let answer: number[] = [];
      for await (const ev of engine.generate({ maxTokens: tokens, ignoreEos: true, sampling: { ...generationDefaults(model.dir), temperature: 0 } })) {
        if (ev.type === 'done') answer = ev.tokens;
      }
      engine.policy.dispose();
      traces.push({ text: `${c.kind} (${model.name})`, answer: { prompt, answer } });
    }
    return traces;
  } finally {
    await model.dispose();
  }
}

async function measureReplays(
  target: { weights: string; dir: string },
  threads: number,
  context: number[],
  traces: { text: string; answer: LookupText }[],
  rounds: number,
  llama: PeerResult | undefined,
  log: (line: string) => void,
): Promise<LookupReplayRow[]> {
  const model = await Model.load(target.dir, { threads: String(threads) });
  try {
    const rows: LookupReplayRow[] = [];
    for (const t of traces) {
      // the cache holds `context.length` tokens before the answer: the prompt's last ones, after filler if it is short
      const prompt = t.answer.prompt.slice(-context.length);
      const filler = context.slice(0, context.length - prompt.length);
      const samples = { plain: [] as { tps: number; cpu: number }[], lookup: [] as { tps: number; cpu: number }[] };
      let last: Awaited<ReturnType<typeof replayLookup>>['lookup'] | null = null;
      // an even number of rounds, so each mode goes first as often as the other
      for (let r = 0; r < rounds + (rounds % 2); r++) {
        const { lookup, plain } = await replayLookup(model, filler, { prompt, answer: t.answer.answer }, r % 2 === 1);
        for (const [k, m] of [['plain', plain], ['lookup', lookup]] as const) samples[k].push({ tps: (1000 * m.tokens) / m.ms, cpu: m.cpuMs / m.tokens });
        last = lookup;
      }
      const med = (x: { tps: number; cpu: number }[]) => ({ tokensPerSecond: percentile(x.map((y) => y.tps), 0.5), cpuMsPerToken: percentile(x.map((y) => y.cpu), 0.5) });
      const row: LookupReplayRow = {
        text: t.text,
        weights: target.weights,
        cachedTokens: context.length + t.answer.answer.length,
        drafted: last!.drafted,
        accepted: last!.accepted,
        acceptance: last!.drafted ? last!.accepted / last!.drafted : 0,
        tokensPerRun: last!.tokens / last!.runs,
        plain: med(samples.plain),
        lookup: med(samples.lookup),
        llamaCpp: llama ? { tokensPerSecond: llama.decode.tokensPerSecond, cpuMsPerToken: llama.decode.cpuMsPerToken } : null,
      };
      log(`lookup replay, ${context.length} cached, ${t.text}: ${row.plain.cpuMsPerToken.toFixed(1)} → ${row.lookup.cpuMsPerToken.toFixed(1)} CPU ms per token`);
      rows.push(row);
    }
    return rows;
  } finally {
    await model.dispose();
  }
}

/** Ratios in CPU time per token: on a shared machine other processes stretch wall times, not CPU time. */
export function lookupTable(rows: LookupReplayRow[]): string {
  return [
    "Prompt-lookup decoding of answers on real text at this shape (a draft kept where it is the answer's next token; tok/s from the wall time of the whole decode; ratios in CPU time per token):",
    '| cached tokens | text | weights | drafted | accepted | acceptance | tokens per run | plain tok/s | lookup tok/s | plain CPU ms/token | lookup CPU ms/token | lookup / plain | llama.cpp Q4_0 CPU ms/token | lookup / llama.cpp |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.cachedTokens} | ${r.text} | ${r.weights} | ${r.drafted} | ${r.accepted} | ${(100 * r.acceptance).toFixed(0)} % | ${r.tokensPerRun.toFixed(2)} | ${r.plain.tokensPerSecond.toFixed(1)} | ` +
        `${r.lookup.tokensPerSecond.toFixed(1)} | ${r.plain.cpuMsPerToken.toFixed(1)} | ${r.lookup.cpuMsPerToken.toFixed(1)} | ${(r.plain.cpuMsPerToken / r.lookup.cpuMsPerToken).toFixed(2)}× | ` +
        `${r.llamaCpp ? r.llamaCpp.cpuMsPerToken.toFixed(1) : '–'} | ${r.llamaCpp ? `${(r.llamaCpp.cpuMsPerToken / r.lookup.cpuMsPerToken).toFixed(2)}×` : '–'} |`,
    ),
  ].join('\n');
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
