import { GraphBuilder } from '../main/engine/onnx-graph.js';
import { LinearLayers, type WeightFormat, type WeightSource } from './graph/linear-layers.js';
import type { ModelConfig } from '../main/engine/model-config.js';

export type { WeightSource, WeightTensor } from './graph/linear-layers.js';

/**
 * Builds the standard (optimum / transformers.js) decoder layout:
 * inputs input_ids, attention_mask, position_ids, past_key_values.N.key|value [batch, kv_heads, past, head_dim];
 * outputs logits, present.N.key|value (past ++ new on axis 2). Keys are cached after RoPE.
 * The causal mask follows cache order (query i sees key j ≤ past + i), so position ids may differ from
 * cache indices — which is what the window and sink cache policies rely on.
 */
export function buildReferenceLlamaOnnx(shape: ModelConfig, weights: WeightSource, format?: WeightFormat): Uint8Array {
  const g = new GraphBuilder('perpetua-llama');
  const { heads: H, kvHeads: KV, headDim: D } = shape;
  const lin = new LinearLayers(g, weights, format);
  const vector = (name: string): string => lin.vector(name);

  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const attnMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);

  let x = lin.embedding('model.embed_tokens.weight', inputIds);

  // RoPE tables from position ids: [B, 1, S, rotaryDim]
  const pos = g.op('Unsqueeze', [g.op('Cast', [positionIds], { to: 1 }), g.ints([-1])]);
  const freqs = g.op('Mul', [pos, g.floats(shape.rope.invFreq)]);
  const emb = g.op('Concat', [freqs, freqs], { axis: -1 });
  const cos = g.op('Unsqueeze', [g.op('Cos', [emb]), g.ints([1])]);
  const sin = g.op('Unsqueeze', [g.op('Sin', [emb]), g.ints([1])]);

  // Causal mask in cache order, combined with the padding mask: [B, 1, S, T]
  const zero = g.ints([0], []);
  const one = g.ints([1], []);
  const S = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: 0 });
  const T = g.op('Gather', [g.op('Shape', [attnMask]), one], { axis: 0 });
  const past = g.op('Sub', [T, S]);
  const qi = g.op('Add', [g.op('Unsqueeze', [g.op('Range', [zero, S, one]), g.ints([1])]), past]);
  const kj = g.op('Unsqueeze', [g.op('Range', [zero, T, one]), g.ints([0])]);
  const causal = g.op('LessOrEqual', [kj, qi]);
  const padding = g.op('Unsqueeze', [g.op('Cast', [attnMask], { to: 9 }), g.ints([1, 2])]);
  const mask = g.op('And', [causal, padding]);
  const minusInf = g.floats([-3.4028234663852886e38], []);
  const scale = g.floats([1 / Math.sqrt(D)], []);

  const rmsNorm = (input: string, weightName: string): string => {
    const ms = g.op('ReduceMean', [g.op('Mul', [input, input])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.floats([shape.rmsNormEps], [])])])]);
    return g.op('Mul', [g.op('Mul', [input, inv]), vector(weightName)]);
  };
  const rotateHalf = (t: string): string => {
    const half = shape.rope.rotaryDim / 2;
    const [a, b] = g.opMulti('Split', [t, g.ints([half, half])], 2, { axis: -1 });
    return g.op('Concat', [g.op('Neg', [b]), a], { axis: -1 });
  };
  const rope = (t: string): string => {
    if (shape.rope.rotaryDim === D) {
      return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [rotateHalf(t), sin])]);
    }
    const [rot, pass] = g.opMulti('Split', [t, g.ints([shape.rope.rotaryDim, D - shape.rope.rotaryDim])], 2, { axis: -1 });
    const rotated = g.op('Add', [g.op('Mul', [rot, cos]), g.op('Mul', [rotateHalf(rot), sin])]);
    return g.op('Concat', [rotated, pass], { axis: -1 });
  };
  /** [B, S, n*D] → [B, n, S, D] */
  const heads = (t: string, n: number): string =>
    g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, n, D])])], { perm: [0, 2, 1, 3] });
  const project = (input: string, prefix: string, proj: string): string => {
    const y = lin.matmul(input, [`${prefix}.${proj}.weight`]);
    return shape.attentionBias ? g.op('Add', [y, vector(`${prefix}.${proj}.bias`)]) : y;
  };
  /** GQA: repeat each KV head for its group of query heads. [B, KV, T, D] → [B, H, T, D] */
  const repeatKv = (t: string): string => {
    if (H === KV) return t;
    const expanded = g.op('Expand', [g.op('Unsqueeze', [t, g.ints([2])]), g.ints([1, 1, H / KV, 1, 1])]);
    return g.op('Reshape', [expanded, g.ints([0, H, -1, D])]);
  };

  const presentShape = ['batch_size', KV, 'total_sequence_length', D];
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    const pastK = g.input(`past_key_values.${l}.key`, 'float32', ['batch_size', KV, 'past_sequence_length', D]);
    const pastV = g.input(`past_key_values.${l}.value`, 'float32', ['batch_size', KV, 'past_sequence_length', D]);

    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const q = rope(heads(project(h, `${p}.self_attn`, 'q_proj'), H));
    const k = rope(heads(project(h, `${p}.self_attn`, 'k_proj'), KV));
    const v = heads(project(h, `${p}.self_attn`, 'v_proj'), KV);
    const presentK = g.output(`present.${l}.key`, 'float32', presentShape, g.op('Concat', [pastK, k], { axis: 2 }));
    const presentV = g.output(`present.${l}.value`, 'float32', presentShape, g.op('Concat', [pastV, v], { axis: 2 }));

    const kT = g.op('Transpose', [repeatKv(presentK)], { perm: [0, 1, 3, 2] });
    const scores = g.op('Mul', [g.op('MatMul', [q, kT]), scale]);
    const probs = g.op('Softmax', [g.op('Where', [mask, scores, minusInf])], { axis: -1 });
    const ctx = g.op('MatMul', [probs, repeatKv(presentV)]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.ints([0, 0, H * D])]);
    x = g.op('Add', [x, lin.matmul(merged, [`${p}.self_attn.o_proj.weight`])]);

    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = lin.matmul(h2, [`${p}.mlp.gate_proj.weight`]);
    const up = lin.matmul(h2, [`${p}.mlp.up_proj.weight`]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, lin.matmul(act, [`${p}.mlp.down_proj.weight`])]);
  }
  const final = rmsNorm(x, 'model.norm.weight');
  const logits = lin.matmul(final, [lmHeadName(lin)], 'lm_head.T');
  g.output('logits', 'float32', ['batch_size', 'sequence_length', shape.vocabSize], logits);
  return g.toBytes();
}

/** Tied checkpoints multiply by the embedding table. */
export function lmHeadName(lin: LinearLayers): string {
  return lin.has('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight';
}
