import type { GraphBuilder } from '../../main/engine/onnx-graph.js';
import type { ModelConfig } from '../../main/engine/model-config.js';
import { newKvName } from '../../main/engine/decoder-layout.js';

/**
 * Attention of the "appending" layout, where the caller owns the KV cache. Each layer's past comes in as the
 * cache's own fixed-capacity buffer [1, kvHeads, capacity, headDim], of which the first `past` tokens are valid
 * (past = attention_mask length − new tokens; the rest is masked), and only the new tokens' keys (after RoPE)
 * and values go out, as new_key_values.N.key|value [1, kvHeads, S, headDim], for the caller to write after the
 * valid ones. Nothing the size of the cache is copied, in the graph or by onnxruntime-node, which copies every
 * output it returns (GroupQueryAttention must return the whole present KV, in place or not).
 * Per layer: scores against the past and against the new tokens (causal), one softmax over both, then
 * probabilities · values for each part. Queries go in as [1, groups, kvHeads, S, headDim], which broadcasts against
 * the buffers as they are (no reshape, no copy), already scaled by 1/√headDim, so that in a decode step every
 * product has one row and no factor: MLAS then runs its M = 1 kernels straight from the buffer. With several query
 * rows per product (the previous [kvHeads, groups·S] layout) or a factor (alpha) it packs the whole K and V of
 * every layer through a scratch panel on every step.
 */
export class AppendingAttention {
  private readonly groups: number;
  private pastBias = '';
  private causalBias = '';
  private capacityAndNew = '';

  constructor(
    private readonly g: GraphBuilder,
    private readonly shape: ModelConfig,
    /** new tokens S and past tokens, int64 scalars */
    private readonly newTokens: string,
    private readonly pastTokens: string,
  ) {
    this.groups = shape.heads / shape.kvHeads;
  }

  /** q [1, S, heads·headDim], k and v [1, S, kvHeads·headDim] (q and k rotated) → [1, S, heads·headDim] */
  layer(q: string, k: string, v: string, pastK: string, pastV: string, l: number): string {
    const { g } = this;
    const { kvHeads: KV, headDim: D, heads: H } = this.shape;
    const G = this.groups;
    if (!this.pastBias) this.shared(pastK);
    // query head h = kv·G + g attends to KV head kv; [1, G, KV, S, D] broadcasts against the [1, KV, ·, D] buffers
    const scaled = g.op('Mul', [q, g.floats([1 / Math.sqrt(D)], [])]);
    const qh = g.op('Transpose', [g.op('Reshape', [scaled, g.ints([1, -1, KV, G, D])])], { perm: [0, 3, 2, 1, 4] });
    const heads = (t: string, name: string) => g.op('Transpose', [g.op('Reshape', [t, g.ints([1, -1, KV, D])])], { perm: [0, 2, 1, 3] }, name);
    const kh = heads(k, newKvName(l, 'key'));
    const vh = heads(v, newKvName(l, 'value'));
    for (const name of [kh, vh]) g.declareOutput(name, 'float32', ['batch_size', KV, 'sequence_length', D]);
    const [toPast] = g.contrib('FusedMatMul', [qh, pastK], 1, { transB: 1 });
    const [toNew] = g.contrib('FusedMatMul', [qh, kh], 1, { transB: 1 });
    const scores = g.op('Concat', [g.op('Add', [toPast, this.pastBias]), g.op('Add', [toNew, this.causalBias])], { axis: 4 });
    const [pPast, pNew] = g.opMulti('Split', [g.op('Softmax', [scores], { axis: -1 }), this.capacityAndNew], 2, { axis: 4 });
    const o = g.op('Add', [g.op('MatMul', [pPast, pastV]), g.op('MatMul', [pNew, vh])]);
    // [1, G, KV, S, D] → [1, S, KV, G, D] → [1, S, H·D]
    return g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 3, 2, 1, 4] }), g.ints([1, -1, H * D])]);
  }

  /** Masks shared by every layer: unfilled buffer rows, and new tokens after the query */
  private shared(firstPastK: string): void {
    const { g } = this;
    const zero = g.floats([0], []);
    const masked = g.floats([-Infinity], []);
    const first = g.ints([0], []);
    const step = g.ints([1], []);
    const capacity = g.op('Gather', [g.op('Shape', [firstPastK]), g.ints([2], [])], { axis: 0 });
    const slots = g.op('Range', [first, capacity, step]);
    this.pastBias = g.op('Where', [g.op('Less', [slots, this.pastTokens]), zero, masked]);
    const cols = g.op('Range', [first, this.newTokens, step]);
    this.causalBias = g.op('Where', [g.op('LessOrEqual', [cols, g.op('Unsqueeze', [cols, g.ints([1])])]), zero, masked]);
    const asList = (t: string) => g.op('Unsqueeze', [t, g.ints([0])]);
    this.capacityAndNew = g.op('Concat', [asList(capacity), asList(this.newTokens)], { axis: 0 });
  }
}
