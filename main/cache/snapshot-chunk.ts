import type { KvGeometry, LayerKv } from '../engine/layer-kv.js';
import { KV_DTYPES, type HostKvArray, type KvDtype } from '../engine/kv-dtype.js';
import { elementDtype, isCount, SnapshotCorruptError, SnapshotInvalidError, SnapshotVersionError } from './snapshot-codec.js';
import { encodeFrame, openFrame } from './snapshot-frame.js';

/**
 * One chunk of a chunked snapshot: the KV of some tokens as the cache held them when they were written, and the
 * cache position each key was rotated to then. A token's K and V never change once computed, so a chunk is written
 * once and only ever read or dropped; a manifest (snapshot-manifest.ts) says which of its rows a cache holds.
 *
 * Frame (snapshot-frame.ts): "PRPKC\0", version 2, JSON {dtype, geometry, rows}, i32[rows] key positions, KV layer
 * by layer, key then value, each [kvHeads, rows, headDim].
 */
export interface SnapshotChunk {
  dtype: KvDtype;
  geometry: KvGeometry;
  /** the cache position each row's key was rotated to */
  keyPositions: number[];
  kv: LayerKv[];
}

export const CHUNK_VERSION = 2;
const CHUNK_MAGIC = Buffer.from('PRPKC\0', 'latin1');

export function encodeChunk(c: SnapshotChunk): Uint8Array {
  const rows = c.keyPositions.length;
  const g = c.geometry;
  const perRow = g.kvHeads * g.headDim;
  if (c.kv.length !== g.layers) throw new SnapshotInvalidError(`${c.kv.length} KV layers for a ${g.layers}-layer chunk`);
  for (const layer of c.kv) {
    for (const a of [layer.key, layer.value]) {
      if (a.length !== rows * perRow || elementDtype(a) !== c.dtype) throw new SnapshotInvalidError(`a chunk layer does not hold ${rows} rows of ${c.dtype}`);
    }
  }
  return encodeFrame(CHUNK_MAGIC, CHUNK_VERSION, {
    header: { dtype: c.dtype, geometry: { layers: g.layers, kvHeads: g.kvHeads, headDim: g.headDim }, rows },
    ints: [c.keyPositions],
    floats: c.kv.flatMap((l) => [l.key, l.value]),
  });
}

export function decodeChunk(bytes: Uint8Array): SnapshotChunk {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const f = openFrame(bytes, CHUNK_MAGIC, 'KV chunk');
  if (f.version !== CHUNK_VERSION) throw new SnapshotVersionError(f.version, CHUNK_VERSION);
  const h = f.header as { dtype?: unknown; geometry?: Partial<KvGeometry>; rows?: unknown };
  const g = h?.geometry;
  if (
    !h || !KV_DTYPES.includes(h.dtype as KvDtype) || !g || !isCount(g.layers) || !isCount(g.kvHeads) || !isCount(g.headDim) || !isCount(h.rows)
  ) {
    return corrupt('a KV chunk header is malformed');
  }
  const dtype = h.dtype as KvDtype;
  const geometry = { layers: g.layers, kvHeads: g.kvHeads, headDim: g.headDim };
  const keyPositions = f.ints(h.rows);
  // rows are written in cache order
  if (!keyPositions.every((p, i) => p >= 0 && (i === 0 || p > keyPositions[i - 1]))) corrupt('a KV chunk’s key positions are out of order');
  const count = h.rows * g.kvHeads * g.headDim;
  const kv: LayerKv[] = [];
  for (let l = 0; l < g.layers; l++) kv.push({ key: f.floats(count, dtype), value: f.floats(count, dtype) });
  if (f.left() !== 0) corrupt('a KV chunk is longer than its header says');
  // a writer bug sealed in: a zeroed layer would resume as empty answers (NaN is caught once the cache is assembled)
  for (const layer of count ? kv : []) if (allZero(layer.key) || allZero(layer.value)) corrupt('a KV chunk holds a layer of zeros');
  return { dtype, geometry, keyPositions, kv };
}

/** ±0 everywhere (float16 bit patterns 0x0000 / 0x8000, or float32 zeros). */
function allZero(a: HostKvArray): boolean {
  if (a instanceof Uint16Array) return a.every((b) => (b & 0x7fff) === 0);
  return a.every((v) => v === 0);
}
