import { isHost, type CacheKv, type KvGeometry } from '../engine/layer-kv.js';
import type { HostKvArray } from '../engine/kv-dtype.js';

/** Host KV whose tokens can be taken back by copying (device tensors cannot be cut without a graph). */
export function truncatableKv(kv: CacheKv[]): boolean {
  return kv.every((l) => isHost(l.key) && isHost(l.value));
}

/** The first `keep` tokens of host [kvHeads, length, headDim] arrays, as new arrays (rejected drafts go). */
export function keepFirstTokens(kv: CacheKv[], keep: number, g: KvGeometry): CacheKv[] {
  const cut = (a: HostKvArray): HostKvArray => {
    const length = a.length / (g.kvHeads * g.headDim);
    if (keep > length) throw new RangeError(`Cannot keep ${keep} of ${length} tokens.`);
    const out = a instanceof Float32Array ? new Float32Array(g.kvHeads * keep * g.headDim) : new Uint16Array(g.kvHeads * keep * g.headDim);
    for (let h = 0; h < g.kvHeads; h++) out.set(a.subarray(h * length * g.headDim, (h * length + keep) * g.headDim), h * keep * g.headDim);
    return out;
  };
  return kv.map((l) => {
    if (!isHost(l.key) || !isHost(l.value)) throw new RangeError('KV on a device cannot be cut on the host.');
    return { key: cut(l.key), value: cut(l.value) };
  });
}
