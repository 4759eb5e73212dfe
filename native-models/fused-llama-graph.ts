import { GraphBuilder } from '../main/engine/onnx-graph.js';
import { LinearLayers, type WeightFormat, type WeightSource } from './graph/linear-layers.js';
import { lmHeadName } from './llama-graph.js';
import { AppendingAttention } from './graph/appending-attention.js';
import type { ModelConfig } from '../main/engine/model-config.js';

/** Rows of the RoPE cos/sin tables: positions a cache may reach (GroupQueryAttention refuses longer sequences). */
export function ropeTableRows(shape: ModelConfig): number {
  return Math.max(shape.maxPositions, 32768);
}

/**
 * GroupQueryAttention applies RoPE itself only when the head size is a multiple of 16 and the rotated half a
 * multiple of 8; other shapes rotate with the RotaryEmbedding op first.
 */
export function gqaRotates(shape: ModelConfig): boolean {
  return shape.headDim % 16 === 0 && (shape.rope.rotaryDim / 2) % 8 === 0;
}

/**
 * The decoder with onnxruntime's fused operators, the layout onnxruntime-genai's builder writes:
 * SimplifiedLayerNormalization and SkipSimplifiedLayerNormalization (RMSNorm with the residual add folded in),
 * one packed QKV multiplication, GroupQueryAttention (RoPE, KV append, grouped heads and the causal softmax in one
 * kernel; RotaryEmbedding before it where GQA cannot rotate), MatMulNBits for 4-bit weights.
 * Inputs: input_ids, attention_mask, past_key_values.N.key|value [batch, kvHeads, past, headDim]; outputs logits,
 * present.N.key|value — the standard cache layout, keys after RoPE. There is no position_ids input: GQA places the
 * new tokens at the cache length (seqlens_k = mask sum − 1), which is right for every Perpetua cache policy
 * because each keeps cache index = position id.
 * With `attention: 'appending'` the same graph attends with AppendingAttention instead (the caller's KV buffer in,
 * only the new tokens' KV out, RotaryEmbedding before it) and takes `position_ids` and `logits_to_keep` (0 = every
 * row, k = the last k), so a prefill computes one row of the output matrix instead of one per token.
 */
export function buildFusedLlamaOnnx(
  shape: ModelConfig,
  weights: WeightSource,
  format?: WeightFormat,
  attention: 'gqa' | 'appending' = 'gqa',
): Uint8Array {
  const appending = attention === 'appending';
  const g = new GraphBuilder(appending ? 'perpetua-llama-appending' : 'perpetua-llama-fused');
  const { heads: H, kvHeads: KV, headDim: D, rmsNormEps: epsilon } = shape;
  const lin = new LinearLayers(g, weights, format);
  const rotaryDim = shape.rope.rotaryDim;
  const inGqa = !appending && gqaRotates(shape);

  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const attnMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const logitsToKeep = appending ? g.input('logits_to_keep', 'int64', []) : '';

  // GQA's bookkeeping from the mask: valid tokens − 1 per sequence, and the total length.
  const one = g.ints([1], []);
  const maskSum = g.op('ReduceSum', [attnMask, g.ints([1])], { keepdims: 0 });
  const seqlensK = g.op('Cast', [g.op('Sub', [maskSum, one])], { to: 6 });
  const totalLength = g.op('Gather', [g.op('Shape', [attnMask]), one], { axis: 0 });
  const total = g.op('Cast', [totalLength], { to: 6 });

  // cos/sin tables [rows, rotaryDim / 2] computed in float32 like the reference graph; constant-folded at load
  const rows = g.op('Cast', [g.op('Range', [g.ints([0], []), g.ints([ropeTableRows(shape)], []), one])], { to: 1 });
  const angles = g.op('Mul', [g.op('Unsqueeze', [rows, g.ints([1])]), g.floats(shape.rope.invFreq)]);
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  const interleaved = shape.rope.style === 'interleaved' ? 1 : 0;

  // RotaryEmbedding needs explicit positions: the appending graph's input, else past + 0…S−1, past = total − S (batch 1)
  let positions = '';
  let appendingAttention: AppendingAttention | null = null;
  if (!inGqa) {
    const S = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 });
    const start = g.op('Sub', [totalLength, S]);
    // an appending graph takes its positions, so a cache may encode its keys one offset further (see RollingCache)
    positions = appending
      ? g.input('position_ids', 'int64', ['batch_size', 'sequence_length'])
      : g.op('Unsqueeze', [g.op('Range', [start, totalLength, one]), g.ints([0])]);
    if (appending) appendingAttention = new AppendingAttention(g, shape, S, start);
  }
  const rotate = (t: string, heads: number): string =>
    g.contrib('RotaryEmbedding', [t, positions, cos, sin], 1, {
      interleaved,
      num_heads: heads,
      rotary_embedding_dim: rotaryDim,
    })[0];

  const norm = (input: string, weightName: string): string =>
    g.op('SimplifiedLayerNormalization', [input, lin.vector(weightName)], { axis: -1, epsilon: { float: epsilon }, stash_type: 1 });
  /** RMSNorm(input + residual): returns [normalized, the sum] */
  const skipNorm = (input: string, residual: string, weightName: string): [string, string] => {
    const [normed, , , sum] = g.contrib('SkipSimplifiedLayerNormalization', [input, residual, lin.vector(weightName)], [null, '', '', null], {
      epsilon: { float: epsilon },
    });
    return [normed, sum];
  };

  let residual = lin.embedding('model.embed_tokens.weight', inputIds);
  let h = norm(residual, 'model.layers.0.input_layernorm.weight');
  const presentShape = ['batch_size', KV, 'total_sequence_length', D];
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const pastK = g.input(`past_key_values.${l}.key`, 'float32', ['batch_size', KV, 'past_sequence_length', D]);
    const pastV = g.input(`past_key_values.${l}.value`, 'float32', ['batch_size', KV, 'past_sequence_length', D]);
    const names = ['q_proj', 'k_proj', 'v_proj'].map((n) => `${a}.${n}`);
    const gqaAttrs = { num_heads: H, kv_num_heads: KV, do_rotary: inGqa ? 1 : 0, rotary_interleaved: interleaved };
    /** q, k and v in one multiplication, [1, S, (H + 2·KV)·D] */
    const packedQkv = (): string => {
      const qkv = lin.matmul(h, names.map((n) => `${n}.weight`), `${a}.qkv_proj`);
      return shape.attentionBias ? g.op('Add', [qkv, lin.vector(...names.map((n) => `${n}.bias`))]) : qkv;
    };
    let qkvInputs: string[];
    if (appending) {
      const [q, k, v] = g.opMulti('Split', [packedQkv(), g.ints([H * D, KV * D, KV * D])], 3, { axis: 2 });
      qkvInputs = [rotate(q, H), rotate(k, KV), v];
    } else if (inGqa) {
      qkvInputs = [packedQkv(), '', ''];
    } else {
      const [q, k, v] = names.map((n) => {
        const y = lin.matmul(h, [`${n}.weight`]);
        return shape.attentionBias ? g.op('Add', [y, lin.vector(`${n}.bias`)]) : y;
      });
      qkvInputs = [rotate(q, H), rotate(k, KV), v];
    }
    let attn: string;
    if (appendingAttention) {
      attn = appendingAttention.layer(qkvInputs[0], qkvInputs[1], qkvInputs[2], pastK, pastV, l);
    } else {
      // GQA writes the present KV straight into the graph outputs (no Identity copy)
      [attn] = g.contrib(
        'GroupQueryAttention',
        [...qkvInputs, pastK, pastV, seqlensK, total, ...(inGqa ? [cos, sin] : [])],
        [null, `present.${l}.key`, `present.${l}.value`],
        gqaAttrs,
      );
      g.declareOutput(`present.${l}.key`, 'float32', presentShape);
      g.declareOutput(`present.${l}.value`, 'float32', presentShape);
    }

    const o = lin.matmul(attn, [`${a}.o_proj.weight`]);
    const [h2, afterAttn] = skipNorm(o, residual, `${p}.post_attention_layernorm.weight`);
    // gate and up in one multiplication (one kernel call, one pass over the activations), then split
    const gateUp = lin.matmul(h2, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`], `${p}.mlp.gate_up_proj`);
    const [gate, up] = g.opMulti('Split', [gateUp, g.ints([shape.intermediateSize, shape.intermediateSize])], 2, { axis: 2 });
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    const down = lin.matmul(act, [`${p}.mlp.down_proj.weight`]);
    const next = l + 1 < shape.layers ? `model.layers.${l + 1}.input_layernorm.weight` : 'model.norm.weight';
    [h, residual] = skipNorm(down, afterAttn, next);
  }
  if (logitsToKeep) {
    // rows −k… of the sequence; k = 0 starts at row 0, so every row
    const from = g.op('Unsqueeze', [g.op('Neg', [logitsToKeep]), g.ints([0])]);
    h = g.op('Slice', [h, from, g.ints([2 ** 53 - 1]), g.ints([1])]);
  }
  const logits = lin.matmul(h, [lmHeadName(lin)], 'lm_head.T');
  g.output('logits', 'float32', ['batch_size', 'sequence_length', shape.vocabSize], logits);
  return g.toBytes();
}
