import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gaussian, mulberry32 } from './seeded-random.js';
import { buildTinyTokenizer } from './tiny-tokenizer.js';
import { buildLlamaOnnx, type LlamaShape, type WeightTensor } from './llama-graph.js';
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
}

export interface GeneratedModel {
  config: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  weights: Map<string, WeightTensor>;
  onnx: Uint8Array;
}

/** A Llama-architecture decoder with seeded random weights: same bytes on every machine. */
export function generateTinyModel(opts: TinyModelOptions = {}): GeneratedModel {
  const hidden = opts.hiddenSize ?? 64;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? 2;
  const headDim = hidden / heads;
  const tok = buildTinyTokenizer(opts.vocabSize ?? 512);
  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: tok.vocabSize,
    hidden_size: hidden,
    intermediate_size: opts.intermediateSize ?? 2 * hidden,
    num_hidden_layers: opts.layers ?? 2,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    hidden_act: 'silu',
    rms_norm_eps: 1e-6,
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

  const onnx = buildLlamaOnnx(shapeFromConfig(config), (name) => weights.get(name));
  return { config, tokenizerJson: tok.tokenizerJson, tokenizerConfig: tok.tokenizerConfig, weights, onnx };
}

/** The graph-builder view of a HF config.json. */
export function shapeFromConfig(config: Record<string, unknown>): LlamaShape {
  const c = parseModelConfig(config);
  return {
    vocabSize: c.vocabSize,
    hiddenSize: c.hiddenSize,
    intermediateSize: c.intermediateSize,
    layers: c.layers,
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.headDim,
    rmsNormEps: c.rmsNormEps,
    rotaryDim: c.rope.rotaryDim,
    invFreq: c.rope.invFreq,
    attentionBias: c.attentionBias,
  };
}

/** Writes a model folder in the layout the engine loads (config.json, tokenizer files, onnx/model.onnx). */
export function writeModelFolder(dir: string, model: Omit<GeneratedModel, 'weights'>): void {
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(model.config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(model.tokenizerConfig, null, 2));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), model.onnx);
}
