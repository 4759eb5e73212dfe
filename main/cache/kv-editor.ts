import ort from 'onnxruntime-node';
import type { RopeSpec } from '../engine/model-config.js';
import { buildEvictGraph } from '../../native-models/graph/kv-edit-graph.js';
import { isHost, kvLength, toHostKv, type CacheKv, type KvGeometry } from './layer-kv.js';
import { allocLike, type HostKvArray, type KvDtype } from './kv-dtype.js';
import { rotateKeys } from './rope-rotation.js';

/** Performs the window/sink eviction on a cache, wherever its KV lives. */
export interface KvEditor {
  /** keeps the first `keep` tokens, drops the next `drop`, and turns the keys of the rest back by `drop` positions */
  evict(kv: CacheKv[], keep: number, drop: number): Promise<CacheKv[]>;
}

/** Edits host arrays in JavaScript (the CPU path: no graph launch overhead for tiny edits), in their own dtype. */
export class HostKvEditor implements KvEditor {
  constructor(
    private readonly g: KvGeometry,
    private readonly rope: RopeSpec,
  ) {}

  async evict(kv: CacheKv[], keep: number, drop: number): Promise<CacheKv[]> {
    const { kvHeads, headDim } = this.g;
    const host = await toHostKv(kv); // a no-op for host arrays
    return host.map((layer, l) => {
      const length = kvLength(kv[l], this.g);
      const key = dropRange(layer.key, kvHeads, headDim, length, keep, drop);
      rotateKeys(key, kvHeads, headDim, keep, length - drop, -drop, this.rope);
      return { key, value: dropRange(layer.value, kvHeads, headDim, length, keep, drop) };
    });
  }
}

/**
 * Runs the eviction as an ONNX graph on the model's execution provider, so KV on the GPU stays there: inputs and
 * outputs are device tensors; only keep/drop and the cos/sin of the turn (a few hundred bytes) are uploaded.
 */
export class GraphKvEditor implements KvEditor {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly g: KvGeometry,
    private readonly rope: RopeSpec,
    private readonly dtype: KvDtype,
  ) {}

  static async create(g: KvGeometry, rope: RopeSpec, provider: string, onDevice: boolean, dtype: KvDtype = 'float32'): Promise<GraphKvEditor> {
    const graph = buildEvictGraph(g, rope.rotaryDim, rope.style, dtype);
    const outputs = Array.from({ length: g.layers }, (_, l) => [`key_out.${l}`, `value_out.${l}`]).flat();
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: [provider],
      preferredOutputLocation: onDevice ? Object.fromEntries(outputs.map((o) => [o, 'gpu-buffer' as const])) : undefined,
      logSeverityLevel: 3,
    });
    return new GraphKvEditor(session, g, rope, dtype);
  }

  async evict(kv: CacheKv[], keep: number, drop: number): Promise<CacheKv[]> {
    const half = this.rope.rotaryDim / 2;
    const cos = new Float32Array(half);
    const sin = new Float32Array(half);
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos(-drop * this.rope.invFreq[i]);
      sin[i] = Math.sin(-drop * this.rope.invFreq[i]);
    }
    const feeds: Record<string, ort.Tensor> = {
      keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), [1]),
      drop: new ort.Tensor('int64', BigInt64Array.of(BigInt(drop)), [1]),
      cos: new ort.Tensor('float32', cos, [half]),
      sin: new ort.Tensor('float32', sin, [half]),
    };
    const dims = (l: CacheKv) => [1, this.g.kvHeads, kvLength(l, this.g), this.g.headDim];
    kv.forEach((layer, l) => {
      feeds[`key.${l}`] = isHost(layer.key) ? new ort.Tensor(this.dtype, layer.key, dims(layer)) : layer.key;
      feeds[`value.${l}`] = isHost(layer.value) ? new ort.Tensor(this.dtype, layer.value, dims(layer)) : layer.value;
    });
    const out = await this.session.run(feeds);
    return kv.map((_, l) => ({ key: out[`key_out.${l}`], value: out[`value_out.${l}`] }));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Copies [heads, length, dim] without tokens [from, from + count) of every head. */
function dropRange(src: HostKvArray, heads: number, dim: number, length: number, from: number, count: number): HostKvArray {
  const newLength = length - count;
  const out = allocLike(src, heads * newLength * dim);
  for (let h = 0; h < heads; h++) {
    const s = h * length * dim;
    const d = h * newLength * dim;
    out.set(src.subarray(s, s + from * dim), d);
    out.set(src.subarray(s + (from + count) * dim, s + length * dim), d + from * dim);
  }
  return out;
}
