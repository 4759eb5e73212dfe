import { emptyKv, isHost, type CacheKv, type KvEditor, type KvGeometry, type LayerKv, type PastKv } from '../engine/layer-kv.js';

/** Tokens a fresh buffer holds; it grows as the cache fills, so a short chat reads and copies little per step. */
const FIRST_BUFFER_TOKENS = 64;

/** A fresh cache's KV: an empty buffer where the model offers one (a cache of at most `limit` tokens), else no arrays. */
export function freshCacheKv(editor: KvEditor | undefined, geometry: KvGeometry, limit: number): PastKv {
  return editor?.createBuffer?.(Math.min(FIRST_BUFFER_TOKENS, limit)) ?? emptyKv(geometry);
}

/** Restored host arrays of `length` tokens as the cache keeps them: copied into a fresh buffer where the model offers one. */
export function restoredCacheKv(editor: KvEditor | undefined, kv: CacheKv[], length: number, limit: number): PastKv {
  if (!editor?.createBuffer) return kv;
  const host = kv.filter((l): l is LayerKv => isHost(l.key) && isHost(l.value));
  if (host.length !== kv.length) throw new RangeError('A KV buffer takes host arrays only.');
  const buffer = editor.createBuffer(Math.max(length, Math.min(FIRST_BUFFER_TOKENS, limit)));
  buffer.load(host, length);
  return buffer;
}
