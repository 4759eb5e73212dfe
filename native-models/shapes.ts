import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTinyModel, writeModelFolder, type TinyModelOptions } from './tiny-model.js';
import type { GraphOptions } from './decoder-graph.js';

/** A real model's architecture, rebuilt with seeded random weights for speed and memory benchmarks. */
export interface ModelShape {
  name: string;
  /** the model whose config.json these numbers come from */
  source: string;
  options: TinyModelOptions;
}

/** Exact architecture numbers of real small models (their config.json); the weights are random. */
export const SHAPES = {
  'smollm2-135m': {
    name: 'smollm2-135m',
    source: 'HuggingFaceTB/SmolLM2-135M',
    options: {
      modelType: 'llama',
      hiddenSize: 576,
      intermediateSize: 1536,
      layers: 30,
      heads: 9,
      kvHeads: 3,
      vocabSize: 49152,
      ropeTheta: 100000,
      rmsNormEps: 1e-5,
      maxPositions: 8192,
      attentionBias: false,
    },
  },
  'qwen2.5-0.5b': {
    name: 'qwen2.5-0.5b',
    source: 'Qwen/Qwen2.5-0.5B',
    options: {
      modelType: 'qwen2',
      hiddenSize: 896,
      intermediateSize: 4864,
      layers: 24,
      heads: 14,
      kvHeads: 2,
      vocabSize: 151936,
      ropeTheta: 1000000,
      rmsNormEps: 1e-6,
      maxPositions: 32768,
      attentionBias: true,
    },
  },
} as const satisfies Record<string, ModelShape>;

export type ShapeName = keyof typeof SHAPES;
export const SHAPE_NAMES = Object.keys(SHAPES) as ShapeName[];

export function isShapeName(name: string): name is ShapeName {
  return Object.hasOwn(SHAPES, name);
}

/** Parameters of a tied-embedding Llama/Qwen2 decoder with these options (head_dim = hidden / heads). */
export function parameterCount(o: TinyModelOptions): number {
  const hidden = o.hiddenSize ?? 64;
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? 2;
  const headDim = hidden / heads;
  const inter = o.intermediateSize ?? 2 * hidden;
  const vocab = o.vocabSize ?? 512;
  const attn = hidden * heads * headDim * 2 + hidden * kvHeads * headDim * 2;
  const bias = o.attentionBias ? heads * headDim + 2 * kvHeads * headDim : 0;
  const layer = attn + bias + 3 * hidden * inter + 2 * hidden;
  return vocab * hidden + (o.layers ?? 2) * layer + hidden;
}

/** Bytes of the float32 ONNX weights: the tied embedding is stored twice (Gather table and transposed lm head). */
export function onnxWeightBytes(o: TinyModelOptions): number {
  return 4 * (parameterCount(o) + (o.vocabSize ?? 512) * (o.hiddenSize ?? 64));
}

export interface ShapeModelOptions {
  seed?: number;
  /** parent folder of the cached models (default: os.tmpdir()/perpetua-shapes) */
  root?: string;
  onStatus?: (message: string) => void;
  /** graph layout and weight format (default: the fused float32 graph) */
  graph?: GraphOptions;
}

/**
 * Returns the folder of a random-weight model with the exact architecture of `name`, generating it once per
 * machine (it takes tens of seconds and up to a few GB of memory). Weights are stored as ONNX external data
 * (onnx/model.onnx_data): Qwen2.5-0.5B in float32 is past protobuf's 2 GB limit for a single file. The
 * tokenizer is the generated one padded to the real vocabulary size, so the engine's vocabulary check passes.
 */
export function shapeModelDir(name: ShapeName, opts: ShapeModelOptions = {}): string {
  const shape: ModelShape = SHAPES[name];
  const seed = opts.seed ?? 1234;
  const root = opts.root ?? join(tmpdir(), 'perpetua-shapes');
  const graph: GraphOptions = { layout: 'fused', dtype: 'fp32', ...opts.graph };
  const variant = [graph.layout, graph.dtype, graph.scales === 'fp16' ? 'f16scales' : ''].filter(Boolean).join('-');
  const dir = join(root, `${shape.name}-seed${seed}-${variant}-v2`);
  if (existsSync(join(dir, 'onnx', 'model.onnx'))) return dir;
  const gb = (onnxWeightBytes(shape.options) / 2 ** 30).toFixed(2);
  opts.onStatus?.(
    `Generating a random-weight ${shape.source} (${(parameterCount(shape.options) / 1e6).toFixed(0)}M parameters, ${gb} GiB as float32, stored as ${graph.dtype}) in ${dir}; this happens once.`,
  );
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  writeModelFolder(partial, generateTinyModel({ ...shape.options, seed, padVocab: true, externalData: true, graph }));
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}
