import { UnsupportedModelError } from './errors.js';

export type RopeStyle = 'rotate_half' | 'interleaved';

/** Everything needed to re-rotate cached keys: RoPE is fixed per position, so rotations compose. */
export interface RopeSpec {
  theta: number;
  headDim: number;
  /** leading dims of each head that are rotated */
  rotaryDim: number;
  style: RopeStyle;
  /** rotaryDim / 2 inverse frequencies with static scaling applied */
  invFreq: Float32Array;
  scaling: string;
}

export interface ModelConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
  maxPositions: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  rope: RopeSpec;
  /** a learnable attention-sink token the model was pre-trained with at the start of every sample, if any */
  sinkTokenId: number | null;
}

/** Decoder families whose positions come only from RoPE (so cached keys can be shifted). */
const ROPE_FAMILIES: Record<string, RopeStyle> = {
  llama: 'rotate_half',
  mistral: 'rotate_half',
  mixtral: 'rotate_half',
  qwen2: 'rotate_half',
  qwen3: 'rotate_half',
  phi3: 'rotate_half',
  gemma: 'rotate_half',
  gemma2: 'rotate_half',
  granite: 'rotate_half',
  olmo: 'rotate_half',
  olmo2: 'rotate_half',
  stablelm: 'rotate_half',
  gpt_neox: 'rotate_half',
  phi: 'rotate_half',
  starcoder2: 'rotate_half',
  smollm3: 'rotate_half',
  gptj: 'interleaved',
  cohere: 'interleaved',
};

/** Absolute or ALiBi position schemes: keys cannot be moved to new positions. */
const NOT_SHIFTABLE = new Set(['gpt2', 'gpt_bigcode', 'bloom', 'mpt', 'opt', 'falcon', 'bert', 'gpt_neo', 'codegen']);

/** Static RoPE scalings keep one fixed angle per position; dynamic ones change with the sequence length. */
const STATIC_SCALINGS = new Set(['default', 'linear', 'llama3']);

type Json = Record<string, unknown>;

export function parseModelConfig(raw: Json): ModelConfig {
  const textConfig = (raw.text_config as Json | undefined) ?? raw;
  const modelType = String(textConfig.model_type ?? raw.model_type ?? '');
  if (NOT_SHIFTABLE.has(modelType)) {
    throw new UnsupportedModelError(
      `The ${modelType} architecture uses absolute or ALiBi positions, so its cached tokens cannot be shifted; Perpetua needs a RoPE model such as Llama, Mistral or Qwen2.`,
    );
  }
  const style = (raw.rope_style as RopeStyle | undefined) ?? ROPE_FAMILIES[modelType];
  if (!style) {
    throw new UnsupportedModelError(
      `Unsupported architecture "${modelType || 'unknown'}": Perpetua runs RoPE decoders such as Llama, Mistral, Qwen2 and Phi-3.`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = textConfig[key] ?? raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new UnsupportedModelError(`config.json has no valid "${key}".`);
    }
    return v;
  };
  const heads = num('num_attention_heads');
  const hiddenSize = num('hidden_size');
  const headDim = num('head_dim', hiddenSize / heads);
  const partial = num('partial_rotary_factor', 1);
  const rotaryDim = typeof raw.rotary_dim === 'number' ? raw.rotary_dim : Math.floor(headDim * partial);
  const eos = textConfig.eos_token_id ?? raw.eos_token_id;
  const rope = ropeSpec(raw, num('rope_theta', 10000), headDim, rotaryDim, style);
  return {
    modelType,
    vocabSize: num('vocab_size'),
    hiddenSize,
    intermediateSize: num('intermediate_size', 4 * hiddenSize),
    layers: num('num_hidden_layers'),
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    maxPositions: num('max_position_embeddings', 2048),
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: Array.isArray(eos) ? eos.map(Number) : typeof eos === 'number' ? [eos] : [],
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    attentionBias: raw.attention_bias === true || modelType === 'qwen2',
    rope,
    sinkTokenId: typeof raw.perpetua_sink_token_id === 'number' ? raw.perpetua_sink_token_id : null,
  };
}

function ropeSpec(raw: Json, theta: number, headDim: number, rotaryDim: number, style: RopeStyle): RopeSpec {
  if (rotaryDim <= 0 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new UnsupportedModelError(`RoPE rotary dimension ${rotaryDim} does not fit head size ${headDim}.`);
  }
  const scaling = (raw.rope_scaling ?? null) as Json | null;
  const type = String(scaling?.rope_type ?? scaling?.type ?? 'default');
  if (!STATIC_SCALINGS.has(type)) {
    throw new UnsupportedModelError(
      `RoPE scaling "${type}" depends on the sequence length, so cached keys cannot be shifted to new positions; use a model with default, linear or llama3 RoPE scaling.`,
    );
  }
  const invFreq = new Float32Array(rotaryDim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / rotaryDim);
  if (type === 'linear') {
    const factor = Number(scaling!.factor);
    for (let i = 0; i < invFreq.length; i++) invFreq[i] /= factor;
  } else if (type === 'llama3') {
    applyLlama3Scaling(invFreq, scaling!);
  }
  return { theta, headDim, rotaryDim, style, invFreq, scaling: type };
}

function applyLlama3Scaling(invFreq: Float32Array, s: Json): void {
  const factor = Number(s.factor);
  const low = Number(s.low_freq_factor ?? 1);
  const high = Number(s.high_freq_factor ?? 4);
  const oldContext = Number(s.original_max_position_embeddings ?? 8192);
  const lowWavelen = oldContext / low;
  const highWavelen = oldContext / high;
  for (let i = 0; i < invFreq.length; i++) {
    const freq = invFreq[i];
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      invFreq[i] = freq / factor;
    } else {
      const smooth = (oldContext / wavelen - low) / (high - low);
      invFreq[i] = (1 - smooth) * (freq / factor) + smooth * freq;
    }
  }
}
