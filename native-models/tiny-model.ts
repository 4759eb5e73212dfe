import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gaussian, mulberry32 } from './seeded-random.js';
import { buildTinyTokenizer } from './tiny-tokenizer.js';
import type { WeightTensor } from './llama-graph.js';
import { buildDecoderOnnx, type GraphOptions } from './decoder-graph.js';
import { withExternalData } from '../main/engine/onnx-graph.js';
import { parseModelConfig } from '../main/engine/model-config.js';

export interface TinyModelOptions {
  seed?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  vocabSize?: number;
  maxPositions?: number;
  ropeTheta?: number;
  partialRotaryFactor?: number;
  ropeScaling?: Record<string, unknown> | null;
  attentionBias?: boolean;
  /** config.json model_type (default llama) */
  modelType?: string;
  rmsNormEps?: number;
  /**
   * Pad the tokenizer with unused tokens up to exactly `vocabSize` (a real model's vocabulary size; the trained
   * tokenizer alone stops at a few hundred tokens, and the engine refuses a tokenizer far smaller than the model).
   */
  padVocab?: boolean;
  /** keep the weights in onnx/model.onnx_data (ONNX external data), as models past protobuf's 2 GB limit must */
  externalData?: boolean;
  /** graph layout and weight format (default: the reference layout in float32, which tests compare against) */
  graph?: GraphOptions;
}

export interface GeneratedModel {
  config: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  weights: Map<string, WeightTensor>;
  onnx: Uint8Array;
  /** the weights file model.onnx refers to, when built with `externalData` */
  onnxExternal?: { location: string; chunks: Uint8Array[]; size: number };
}

/** A Llama-architecture decoder with seeded random weights: same bytes on every machine. */
export function generateTinyModel(opts: TinyModelOptions = {}): GeneratedModel {
  const base = generateTinyWeights(opts);
  const { config, weights } = base;
  const graph: GraphOptions = { layout: 'reference', ...opts.graph };
  const build = (): Uint8Array => buildDecoderOnnx(parseModelConfig(config), (name) => weights.get(name), graph);
  if (!opts.externalData) return { ...base, onnx: build() };
  const ext = withExternalData('model.onnx_data', build);
  return { ...base, onnx: ext.result, onnxExternal: { location: ext.location, chunks: ext.chunks, size: ext.size } };
}

/** The config, tokenizer and seeded random weights of a generated model, without its ONNX graph. */
export function generateTinyWeights(opts: TinyModelOptions = {}): Omit<GeneratedModel, 'onnx' | 'onnxExternal'> {
  const hidden = opts.hiddenSize ?? 64;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? 2;
  const headDim = hidden / heads;
  const tok = buildTinyTokenizer(opts.vocabSize ?? 512);
  if (opts.padVocab) padTokenizer(tok, opts.vocabSize ?? 512);
  const modelType = opts.modelType ?? 'llama';
  const config: Record<string, unknown> = {
    architectures: [modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: modelType,
    vocab_size: tok.vocabSize,
    hidden_size: hidden,
    intermediate_size: opts.intermediateSize ?? 2 * hidden,
    num_hidden_layers: opts.layers ?? 2,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: 'silu',
    rms_norm_eps: opts.rmsNormEps ?? 1e-6,
    rope_theta: opts.ropeTheta ?? 10000,
    rope_scaling: opts.ropeScaling ?? null,
    partial_rotary_factor: opts.partialRotaryFactor ?? 1,
    attention_bias: opts.attentionBias ?? false,
    max_position_embeddings: opts.maxPositions ?? 2048,
    bos_token_id: 1,
    eos_token_id: 2,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    perpetua_generated: { seed: opts.seed ?? 1234 },
  };
  const parsed = parseModelConfig(config);
  const normal = gaussian(mulberry32(opts.seed ?? 1234));
  const weights = new Map<string, WeightTensor>();
  const tensor = (name: string, shape: number[], std: number, mean = 0): void => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = mean + std * normal();
    weights.set(name, { shape, data });
  };
  const linear = (name: string, out: number, inn: number): void => tensor(name, [out, inn], 1 / Math.sqrt(inn));

  tensor('model.embed_tokens.weight', [parsed.vocabSize, hidden], 0.5);
  for (let l = 0; l < parsed.layers; l++) {
    const p = `model.layers.${l}`;
    tensor(`${p}.input_layernorm.weight`, [hidden], 0.1, 1);
    linear(`${p}.self_attn.q_proj.weight`, heads * headDim, hidden);
    linear(`${p}.self_attn.k_proj.weight`, kvHeads * headDim, hidden);
    linear(`${p}.self_attn.v_proj.weight`, kvHeads * headDim, hidden);
    if (parsed.attentionBias) {
      tensor(`${p}.self_attn.q_proj.bias`, [heads * headDim], 0.1);
      tensor(`${p}.self_attn.k_proj.bias`, [kvHeads * headDim], 0.1);
      tensor(`${p}.self_attn.v_proj.bias`, [kvHeads * headDim], 0.1);
    }
    linear(`${p}.self_attn.o_proj.weight`, hidden, heads * headDim);
    tensor(`${p}.post_attention_layernorm.weight`, [hidden], 0.1, 1);
    linear(`${p}.mlp.gate_proj.weight`, parsed.intermediateSize, hidden);
    linear(`${p}.mlp.up_proj.weight`, parsed.intermediateSize, hidden);
    linear(`${p}.mlp.down_proj.weight`, hidden, parsed.intermediateSize);
  }
  tensor('model.norm.weight', [hidden], 0.1, 1);

  return { config, tokenizerJson: tok.tokenizerJson, tokenizerConfig: tok.tokenizerConfig, weights };
}

/** Adds never-produced vocabulary entries `<unused_N>` until the tokenizer has exactly `vocabSize` ids. */
function padTokenizer(tok: ReturnType<typeof buildTinyTokenizer>, vocabSize: number): void {
  const model = tok.tokenizerJson.model as { vocab: Record<string, number> };
  if (tok.vocabSize > vocabSize) {
    throw new RangeError(`The generated tokenizer already has ${tok.vocabSize} tokens, more than ${vocabSize}.`);
  }
  for (let id = tok.vocabSize; id < vocabSize; id++) model.vocab[`<unused_${id}>`] = id;
  tok.vocabSize = vocabSize;
}

/** Writes a model folder in the layout the engine loads (config.json, tokenizer files, onnx/model.onnx). */
export function writeModelFolder(dir: string, model: Omit<GeneratedModel, 'weights'>): void {
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(model.config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(model.tokenizerConfig, null, 2));
  const ext = model.onnxExternal;
  if (ext) {
    const fd = openSync(join(dir, 'onnx', ext.location), 'w');
    try {
      for (const chunk of ext.chunks) {
        for (let done = 0; done < chunk.byteLength; ) done += writeSync(fd, chunk, done, chunk.byteLength - done);
      }
    } finally {
      closeSync(fd);
    }
  } else {
    rmSync(join(dir, 'onnx', 'model.onnx_data'), { force: true });
  }
  writeFileSync(join(dir, 'onnx', 'model.onnx'), model.onnx);
}
