import ort from 'onnxruntime-node';
import { buildDownloadGraph, buildEvictGraph } from './kv-edit-graph.js';
import type { KvDtype } from './kv-dtype.js';
import { isHost, kvLength, type CacheKv, type KvEditor, type KvGeometry, type LayerKv } from './layer-kv.js';
import type { HostKvArray } from './kv-dtype.js';
import type { RopeSpec } from './model-config.js';

/**
 * Runs the eviction as an ONNX graph on the model's execution provider, so KV on the GPU stays there: inputs and
 * outputs are device tensors; only keep/drop and the cos/sin of the turn (a few hundred bytes) are uploaded.
 */
export class GraphKvEditor implements KvEditor {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** Identity per KV array on the same provider, outputs in host memory: how device KV is read */
    private readonly download: ort.InferenceSession | null,
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
    const download = onDevice
      ? await ort.InferenceSession.create(buildDownloadGraph(g, dtype), { executionProviders: [provider], logSeverityLevel: 3 }).catch(async (err) => {
          await session.release();
          throw err;
        })
      : null;
    return new GraphKvEditor(session, download, g, rope, dtype);
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
    const out = await this.session.run(this.withKv(feeds, kv));
    return kv.map((_, l) => ({ key: out[`key_out.${l}`], value: out[`value_out.${l}`] }));
  }

  /** KV in host memory: device tensors come down through the download graph, host ones are read as they are. */
  async toHost(kv: CacheKv[]): Promise<LayerKv[]> {
    const onDevice = kv.some((l) => !isHost(l.key) && l.key.location !== 'cpu');
    if (!onDevice || !this.download) return kv.map((l) => ({ key: hostData(l.key), value: hostData(l.value) }));
    if (kv.length !== this.g.layers) throw new RangeError(`The download graph reads ${this.g.layers} layers, not ${kv.length}.`);
    const out = await this.download.run(this.withKv({}, kv));
    return kv.map((_, l) => ({ key: out[`key_host.${l}`].data as HostKvArray, value: out[`value_host.${l}`].data as HostKvArray }));
  }

  /** `feeds` plus every layer's KV as key.N / value.N: device tensors as they are, host arrays wrapped. */
  private withKv(feeds: Record<string, ort.Tensor>, kv: CacheKv[]): Record<string, ort.Tensor> {
    const dims = (l: CacheKv) => [1, this.g.kvHeads, kvLength(l, this.g), this.g.headDim];
    kv.forEach((layer, l) => {
      feeds[`key.${l}`] = isHost(layer.key) ? new ort.Tensor(this.dtype, layer.key, dims(layer)) : layer.key;
      feeds[`value.${l}`] = isHost(layer.value) ? new ort.Tensor(this.dtype, layer.value, dims(layer)) : layer.value;
    });
    return feeds;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.session.release(), this.download?.release()]);
  }
}

/** A host array, or the data of a tensor in host memory (never called on a device tensor). */
function hostData(d: CacheKv['key']): HostKvArray {
  return isHost(d) ? d : (d.data as HostKvArray);
}
