import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../engine/execution-provider.js';
import { benchGpu, gpuBenchTable, GPU_BENCH_POLICIES } from '../eval/gpu-bench.js';
import { isShapeName, SHAPE_NAMES, shapeModelDir } from '../../native-models/shapes.js';
import { defaultModelDir } from './default-model.js';
import { number, oneOf, parse } from './options.js';
import { UsageError } from './usage-error.js';

export const BENCH_GPU_HELP = `perpetua bench gpu [--model DIR | --shape ${SHAPE_NAMES.join('|')}] [--providers cpu,webgpu,cuda] [--window L] [--prefill N] [--tokens N] [--json OUT.json]
  Per provider and policy (sink, window, recompute at cache L, default 1024): prefill and decode tokens/s (median
  step, wall and CPU ms), the cost of a step that evicts, and what one decode step moves between host and device and
  which of its nodes run on the CPU (from onnxruntime's profile). On a software adapter (Mesa's lavapipe) the
  structure is right and the speed says nothing about a GPU. Shapes are converted to the GPU's graph (reference).`;

export async function benchGpuCommand(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    shape: { type: 'string' },
    providers: { type: 'string', default: 'cpu,webgpu,cuda' },
    window: { type: 'string', default: '1024' },
    prefill: { type: 'string', default: '256' },
    tokens: { type: 'string', default: '1200' },
    json: { type: 'string' },
  });
  if (v.model && v.shape) throw new UsageError('bench gpu takes --model or --shape, not both.');
  if (v.shape && !isShapeName(v.shape)) throw new UsageError(`--shape is one of ${SHAPE_NAMES.join(', ')}, not "${v.shape}".`);
  const providers = v.providers!.split(',').map((p) => oneOf(p.trim(), EXECUTION_PROVIDERS, 'providers') as ExecutionProvider);
  const status = (line: string) => process.stderr.write(`${line}\n`);
  const dir = v.model
    ? resolve(v.model)
    : v.shape && isShapeName(v.shape)
      ? shapeModelDir(v.shape, { graph: { layout: 'reference', dtype: 'fp32' }, onStatus: status })
      : defaultModelDir();
  const window = number(v.window!, 'window', { min: 8 });
  const rows = await benchGpu(dir, {
    providers,
    policies: GPU_BENCH_POLICIES(window),
    prefillTokens: number(v.prefill!, 'prefill', { min: 1 }),
    decodeTokens: number(v.tokens!, 'tokens', { min: 1 }),
    onStatus: status,
  });
  console.log(`bench gpu: ${dir}, cache ${window} tokens, medians\n${gpuBenchTable(rows)}`);
  if (v.json) {
    mkdirSync(dirname(resolve(v.json)), { recursive: true });
    writeFileSync(resolve(v.json), JSON.stringify({ model: dir, window, rows }, null, 2));
  }
}
