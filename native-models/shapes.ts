import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTinyWeights, type TinyModelOptions } from './tiny-model.js';
import { convertHfModel } from './convert-hf.js';
import { writeSafetensors } from './safetensors.js';
import { writeGguf, type GgufType } from './gguf-writer.js';
import type { GraphOptions } from './decoder-graph.js';
import { GRAPH_BUILDER_HASH } from './builder-hash.js';

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
 * The Hugging Face checkpoint of a random-weight model with the exact architecture of `name` (config.json, the
 * generated tokenizer padded to the real vocabulary size, model.safetensors in F16): the one source every
 * format is converted from, ONNX (fp32, fp16, q4) and GGUF alike, so benchmarks compare the same weights.
 * Generated once per machine (tens of seconds, up to a few GB of memory).
 */
export function shapeCheckpointDir(name: ShapeName, opts: ShapeModelOptions = {}): string {
  const shape: ModelShape = SHAPES[name];
  const seed = opts.seed ?? 1234;
  const root = opts.root ?? join(tmpdir(), 'perpetua-shapes');
  const dir = join(root, `${shape.name}-seed${seed}-hf-v1`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  opts.onStatus?.(
    `Generating a random-weight ${shape.source} checkpoint (${(parameterCount(shape.options) / 1e6).toFixed(0)}M parameters, float16) in ${dir}; this happens once.`,
  );
  const gen = generateTinyWeights({ ...shape.options, seed, padVocab: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  writeFileSync(join(partial, 'config.json'), JSON.stringify({ ...gen.config, torch_dtype: 'float16' }, null, 2));
  writeFileSync(join(partial, 'tokenizer.json'), JSON.stringify(gen.tokenizerJson));
  writeFileSync(join(partial, 'tokenizer_config.json'), JSON.stringify(gen.tokenizerConfig, null, 2));
  writeSafetensors(join(partial, 'model.safetensors'), gen.weights, 'F16');
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}

/**
 * Returns the folder of that model converted to ONNX in a graph layout and weight format (default: the fused
 * float32 graph), converting once per machine. Weights are ONNX external data (onnx/model.onnx_data):
 * Qwen2.5-0.5B in float32 is past protobuf's 2 GB limit for a single file.
 */
export function shapeModelDir(name: ShapeName, opts: ShapeModelOptions = {}): string {
  const shape: ModelShape = SHAPES[name];
  const seed = opts.seed ?? 1234;
  const root = opts.root ?? join(tmpdir(), 'perpetua-shapes');
  const graph: GraphOptions = { layout: 'appending', dtype: 'fp32', ...opts.graph };
  const variant = [graph.layout, graph.dtype, graph.scales === 'fp32' ? 'f32scales' : '', graph.blockSize ? `b${graph.blockSize}` : ''].filter(Boolean).join('-');
  const dir = join(root, `${shape.name}-seed${seed}-${variant}-${GRAPH_BUILDER_HASH}`);
  if (existsSync(join(dir, 'onnx', 'model.onnx'))) return dir;
  const checkpoint = shapeCheckpointDir(name, opts);
  const gb = (onnxWeightBytes(shape.options) / 2 ** 30).toFixed(2);
  opts.onStatus?.(`Converting it (${gb} GiB as float32) to a ${graph.layout} ONNX graph with ${graph.dtype} weights in ${dir}; this happens once.`);
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  convertHfModel(checkpoint, partial, graph, { externalData: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}

/** That model's weights as a llama.cpp GGUF (F16 or Q4_0), written from the same checkpoint once per machine. */
export function shapeGgufFile(name: ShapeName, type: GgufType, opts: ShapeModelOptions = {}): string {
  const checkpoint = shapeCheckpointDir(name, opts);
  const file = `${checkpoint.replace(/-hf-v1$/, '')}-${type}.gguf`;
  if (existsSync(file)) return file;
  opts.onStatus?.(`Writing ${file}; this happens once.`);
  writeGguf(checkpoint, `${file}.partial-${process.pid}`, type);
  renameSync(`${file}.partial-${process.pid}`, file);
  return file;
}
