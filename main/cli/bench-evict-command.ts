import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Model } from '../engine/model.js';
import { evictionTable, KV_MODES, measureEvictions, type KvMode } from '../eval/evict-bench.js';
import { describeMachine, machineInfo } from '../eval/machine-info.js';
import { policyList } from '../eval/policy-list.js';
import { GRAPH_LAYOUTS } from '../../native-models/decoder-graph.js';
import { WEIGHT_DTYPES } from '../../native-models/graph/linear-layers.js';
import { isShapeName, SHAPE_NAMES, SHAPES, shapeModelDir } from '../../native-models/shapes.js';
import { defaultModelDir } from './default-model.js';
import { shellQuote } from './eval-command.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_EVICT_HELP = `perpetua bench evict [--model DIR | --shape ${SHAPE_NAMES.join('|')}] [--layout appending|fused|reference] [--dtype fp32|fp16|q4|q4_0]
    [--policy sink|window] [--sink S] [--window L (the cache size)] [--evict-chunk C] [--steps N] [--modes in-place,copies] [--json OUT.json]
  Normal and eviction steps of a full cache, with the KV in the model's in-place buffer and as new arrays every
  step, interleaved token by token on one session: p50/p99 wall and CPU ms per step and of the eviction alone.`;

export async function benchEvictCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    shape: { type: 'string' },
    layout: { type: 'string', default: 'appending' },
    dtype: { type: 'string', default: 'fp32' },
    policy: { type: 'string', default: 'sink' },
    sink: { type: 'string', default: '4' },
    window: { type: 'string', default: '1024' },
    'evict-chunk': { type: 'string', default: '32' },
    steps: { type: 'string', default: '256' },
    modes: { type: 'string', default: KV_MODES.join(',') },
    json: { type: 'string' },
  });
  if (v.model !== undefined && v.shape !== undefined) throw new UsageError('Give either --model or --shape, not both.');
  if (v.shape !== undefined && !isShapeName(v.shape)) throw new UsageError(`--shape must be one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  const policy = oneOf(v.policy, ['sink', 'window'] as const, 'policy');
  const window = number(v.window, 'window', { integer: true, min: 2 });
  const sink = number(v.sink, 'sink', { integer: true, min: 0 });
  const evictChunk = number(v['evict-chunk'], 'evict-chunk', { integer: true, min: 1 });
  const [spec] = policyList(policy, { window, sink, evictChunk });
  const steps = number(v.steps, 'steps', { integer: true, min: 1 });
  const modes = v.modes.split(',').map((m) => oneOf(m, KV_MODES, 'modes')) as KvMode[];
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const shape = v.shape !== undefined && isShapeName(v.shape) ? SHAPES[v.shape] : null;
  const graph = { layout: oneOf(v.layout, GRAPH_LAYOUTS, 'layout'), dtype: oneOf(v.dtype, WEIGHT_DTYPES, 'dtype') };
  const dir = shape ? shapeModelDir(shape.name, { onStatus: log, graph }) : resolve(v.model ?? defaultModelDir());
  const model = await Model.load(dir);
  try {
    if (modes.includes('in-place') && !model.kvEditor?.createBuffer) log(`${model.name}'s graph offers no in-place KV buffer: "in-place" copies too.`);
    log(`Filling ${modes.length} caches of ${spec.spec.sink} + ${spec.spec.window} tokens, then ${steps} interleaved steps each …`);
    let lastLog = performance.now();
    const result = await measureEvictions(model, spec.spec, {
      steps,
      modes,
      onProgress: (done, total) => {
        if (performance.now() - lastLog < 10_000 && done < total) return;
        lastLog = performance.now();
        log(`${done}/${total} steps`);
      },
    });
    const what = shape ? `${shape.source} architecture (random weights, ${graph.layout} ${graph.dtype})` : model.name;
    process.stdout.write(`${what}, ${spec.label}, evicting ${evictChunk} at a time (${describeMachine(machineInfo())}, load ${result.load1m.join(' → ')})\n`);
    process.stdout.write(evictionTable(result) + '\n');
    const b = result.backToBack;
    if (b) {
      process.stdout.write(
        `the in-place eviction alone, back to back (${b.samples}): p50 ${b.p50Ms.toFixed(2)} ms, p99 ${b.p99Ms.toFixed(2)} ms (CPU ${b.cpuP50Ms.toFixed(2)} / ${b.cpuP99Ms.toFixed(2)} ms)\n`,
      );
    }
    const r = result.rebase;
    if (r) {
      process.stdout.write(
        `turning every key back to its cache index, once per ${r.everyTokens} tokens (${r.samples}): p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (CPU ${r.cpuP50Ms.toFixed(2)} / ${r.cpuP99Ms.toFixed(2)} ms)\n`,
      );
    }
    for (const m of result.modes) {
      process.stdout.write(
        `${m.mode}: an eviction step costs ${m.ratioP50.toFixed(2)}× a normal step at p50 (${m.cpuRatioP50.toFixed(2)}× in CPU time); the eviction alone p50 ${m.edit.p50Ms.toFixed(2)} ms, p99 ${m.edit.p99Ms.toFixed(2)} ms (CPU ${m.edit.cpuP50Ms.toFixed(2)} / ${m.edit.cpuP99Ms.toFixed(2)} ms)\n`,
      );
    }
    if (v.json) {
      mkdirSync(dirname(resolve(v.json)), { recursive: true });
      const command = ['perpetua', 'bench', 'evict', ...args].map(shellQuote).join(' ');
      writeFileSync(v.json, JSON.stringify({ kind: 'perpetua.bench.evict', version: 1, command, model: { dir: model.dir, fingerprint: model.fingerprint }, machine: machineInfo(), ...result }, null, 2) + '\n');
      log(`Wrote ${v.json}.`);
    }
  } finally {
    await model.dispose();
  }
}
