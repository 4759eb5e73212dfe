import type { WeightTensor } from './llama-graph.js';

/**
 * An independent, loop-by-loop Llama forward pass in plain TypeScript (no ONNX, no graph builder), used to
 * cross-check generated and converted ONNX graphs. Full sequence, no cache; returns logits [tokens, vocab].
 */
export function referenceForward(
  config: Record<string, any>,
  weights: Map<string, WeightTensor>,
  tokens: number[],
  positions: number[] = tokens.map((_, i) => i),
  /** sees every attention row: layer, head, query position, probabilities over keys 0..query */
  observeAttention?: (layer: number, head: number, query: number, probs: Float64Array) => void,
): Float32Array[] {
  const E = config.hidden_size as number;
  const H = config.num_attention_heads as number;
  const KV = (config.num_key_value_heads ?? H) as number;
  const D = (config.head_dim ?? E / H) as number;
  const rot = Math.floor(D * (config.partial_rotary_factor ?? 1));
  const eps = config.rms_norm_eps as number;
  const theta = config.rope_theta as number;
  const linearFactor = config.rope_scaling?.type === 'linear' ? config.rope_scaling.factor : 1;
  const w = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`missing ${name}`);
    return t.data;
  };
  const matvec = (m: Float32Array, x: Float64Array, out: number, bias?: Float32Array): Float64Array => {
    const inn = x.length;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < inn; i++) s += m[o * inn + i] * x[i];
      y[o] = s;
    }
    return y;
  };
  const rmsnorm = (x: Float64Array, g: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + eps);
    return x.map((v, i) => v * inv * g[i]);
  };
  const ropeInPlace = (vec: Float64Array, head: number, pos: number) => {
    const half = rot / 2;
    for (let i = 0; i < half; i++) {
      const freq = 1 / Math.pow(theta, (2 * i) / rot) / linearFactor;
      const a = pos * freq;
      const c = Math.cos(a);
      const s = Math.sin(a);
      const x1 = vec[head * D + i];
      const x2 = vec[head * D + i + half];
      vec[head * D + i] = x1 * c - x2 * s;
      vec[head * D + i + half] = x2 * c + x1 * s;
    }
  };
  const bias = (name: string) => (config.attention_bias ? w(name) : undefined);

  const embed = w('model.embed_tokens.weight');
  let xs = tokens.map((t) => Float64Array.from(embed.subarray(t * E, (t + 1) * E)));
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const keys: Float64Array[] = [];
    const values: Float64Array[] = [];
    const queries: Float64Array[] = [];
    xs.forEach((x, t) => {
      const h = rmsnorm(x, w(`${p}.input_layernorm.weight`));
      const q = matvec(w(`${p}.self_attn.q_proj.weight`), h, H * D, bias(`${p}.self_attn.q_proj.bias`));
      const k = matvec(w(`${p}.self_attn.k_proj.weight`), h, KV * D, bias(`${p}.self_attn.k_proj.bias`));
      const v = matvec(w(`${p}.self_attn.v_proj.weight`), h, KV * D, bias(`${p}.self_attn.v_proj.bias`));
      for (let hh = 0; hh < H; hh++) ropeInPlace(q, hh, positions[t]);
      for (let hh = 0; hh < KV; hh++) ropeInPlace(k, hh, positions[t]);
      queries.push(q);
      keys.push(k);
      values.push(v);
    });
    xs = xs.map((x, t) => {
      const attn = new Float64Array(H * D);
      for (let hh = 0; hh < H; hh++) {
        const kvh = Math.floor(hh / (H / KV));
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += queries[t][hh * D + d] * keys[j][kvh * D + d];
          scores[j] = s / Math.sqrt(D);
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += scores[j] = Math.exp(scores[j] - max);
        observeAttention?.(l, hh, t, scores.map((e) => e / sum));
        for (let j = 0; j <= t; j++) {
          for (let d = 0; d < D; d++) attn[hh * D + d] += (scores[j] / sum) * values[j][kvh * D + d];
        }
      }
      const o = matvec(w(`${p}.self_attn.o_proj.weight`), attn, E);
      const x1 = x.map((v, i) => v + o[i]);
      const h2 = rmsnorm(x1, w(`${p}.post_attention_layernorm.weight`));
      const I = config.intermediate_size as number;
      const gate = matvec(w(`${p}.mlp.gate_proj.weight`), h2, I);
      const up = matvec(w(`${p}.mlp.up_proj.weight`), h2, I);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matvec(w(`${p}.mlp.down_proj.weight`), act, E);
      return x1.map((v, i) => v + down[i]);
    });
  }
  const head = weights.has('lm_head.weight') ? w('lm_head.weight') : embed;
  return xs.map((x) => Float32Array.from(matvec(head, rmsnorm(x, w('model.norm.weight')), config.vocab_size)));
}
