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

/** `source` names the file in refusals (config.json, or genai_config.json for onnxruntime-genai folders). */
export function parseModelConfig(raw: Json, source = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UnsupportedModelError(`${source} does not hold a JSON object.`);
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
  // every size is bounded before anything is allocated from it: a head_dim of 1e9 or a context of −100 is refused
  // here, naming the file and field, not met later as gigabytes or NaN angles
  const num = (key: string, bound: Bound, fallback?: number): number => {
    const given = textConfig[key] ?? raw[key];
    const v = given ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new UnsupportedModelError(
        given === undefined ? `${source} has no "${key}".` : `${source} has "${key}": ${JSON.stringify(given) ?? String(given)}, which is not a number.`,
      );
    }
    return inBound(source, key, v, bound);
  };
  const heads = num('num_attention_heads', { min: 1, max: 1024, integer: true });
  const hiddenSize = num('hidden_size', { min: 1, max: 65_536, integer: true });
  const headDim = num('head_dim', { min: 2, max: 1024, integer: true }, hiddenSize / heads);
  const partial = num('partial_rotary_factor', { min: Number.MIN_VALUE, max: 1 }, 1);
  const rotaryDim = typeof raw.rotary_dim === 'number' ? inBound(source, 'rotary_dim', raw.rotary_dim, { min: 2, max: headDim, integer: true }) : Math.floor(headDim * partial);
  const eos = textConfig.eos_token_id ?? raw.eos_token_id;
  const vocabSize = num('vocab_size', { min: 1, max: MAX_VOCAB, integer: true });
  const tokenId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < vocabSize;
  const rope = ropeSpec(raw, num('rope_theta', { min: 1 + 1e-9, max: 1e12 }, 10000), headDim, rotaryDim, style, source);
  const kvHeads = num('num_key_value_heads', { min: 1, max: heads, integer: true }, heads);
  if (heads % kvHeads !== 0) throw new UnsupportedModelError(`${source} has ${heads} attention heads, which ${kvHeads} key/value heads do not divide.`);
  return {
    modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: num('intermediate_size', { min: 1, max: 1 << 20, integer: true }, 4 * hiddenSize),
    layers: num('num_hidden_layers', { min: 1, max: 1024, integer: true }),
    heads,
    kvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', { min: 0, max: 1 }, 1e-6),
    maxPositions: num('max_position_embeddings', { min: 16, max: 1 << 24, integer: true }, 2048),
    bosTokenId: tokenId(raw.bos_token_id) ? raw.bos_token_id : null,
    eosTokenIds: (Array.isArray(eos) ? eos : [eos]).filter(tokenId),
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    attentionBias: raw.attention_bias === true || modelType === 'qwen2',
    rope,
    sinkTokenId: tokenId(raw.perpetua_sink_token_id) ? raw.perpetua_sink_token_id : null,
  };
}

/** The largest vocabulary accepted (the largest real ones are ~260K); more is a hostile or broken file. */
export const MAX_VOCAB = 1 << 20;

interface Bound {
  min: number;
  max: number;
  integer?: boolean;
}

function inBound(source: string, key: string, v: number, b: Bound): number {
  if (!Number.isFinite(v) || v < b.min || v > b.max || (b.integer && !Number.isInteger(v))) {
    const range = b.min === Number.MIN_VALUE ? `above 0 and at most ${b.max}` : `${b.integer ? 'a whole number ' : ''}from ${+b.min.toPrecision(6)} to ${b.max}`;
    throw new UnsupportedModelError(`${source} has "${key}": ${v}, but it must be ${range}.`);
  }
  return v;
}

function ropeSpec(raw: Json, theta: number, headDim: number, rotaryDim: number, style: RopeStyle, source: string): RopeSpec {
  if (rotaryDim <= 0 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new UnsupportedModelError(`RoPE rotary dimension ${rotaryDim} does not fit head size ${headDim}.`);
  }
  const scaling = (raw.rope_scaling ?? null) as Json | null;
  if (scaling !== null && (typeof scaling !== 'object' || Array.isArray(scaling))) throw new UnsupportedModelError(`${source} has a "rope_scaling" that is not an object.`);
  const type = String(scaling?.rope_type ?? scaling?.type ?? 'default');
  if (!STATIC_SCALINGS.has(type)) {
    throw new UnsupportedModelError(
      `RoPE scaling "${type}" depends on the sequence length, so cached keys cannot be shifted to new positions; use a model with default, linear or llama3 RoPE scaling.`,
    );
  }
  const invFreq = new Float32Array(rotaryDim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / rotaryDim);
  const factorOf = (key: string, fallback?: number): number => {
    const v = scaling![key] ?? fallback;
    if (typeof v !== 'number') throw new UnsupportedModelError(`${source} has "rope_scaling.${key}": ${JSON.stringify(v) ?? 'nothing'}, which is not a number.`);
    return inBound(source, `rope_scaling.${key}`, v, { min: Number.MIN_VALUE, max: 1e6 });
  };
  if (type === 'linear') {
    const factor = factorOf('factor');
    for (let i = 0; i < invFreq.length; i++) invFreq[i] /= factor;
  } else if (type === 'llama3') {
    factorOf('factor');
    factorOf('original_max_position_embeddings', 8192);
    if (factorOf('high_freq_factor', 4) <= factorOf('low_freq_factor', 1)) {
      throw new UnsupportedModelError(`${source} has a llama3 "rope_scaling" whose high_freq_factor is not above its low_freq_factor.`);
    }
    applyLlama3Scaling(invFreq, scaling!);
  }
  // the last guard: angles used at every eviction must be real numbers
  if (!invFreq.every((f) => Number.isFinite(f) && f > 0)) throw new UnsupportedModelError(`${source} gives RoPE frequencies that are not positive numbers.`);
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
