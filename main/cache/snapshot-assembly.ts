import type { RopeSpec } from '../engine/model-config.js';
import type { LayerKv } from '../engine/layer-kv.js';
import { allocKv, fromFloat32, toFloat32, type HostKvArray } from '../engine/kv-dtype.js';
import { rotateKeys } from './rope-rotation.js';
import { SnapshotCorruptError, type Snapshot } from './snapshot-codec.js';
import type { SnapshotChunk } from './snapshot-chunk.js';
import type { SnapshotManifest } from './snapshot-manifest.js';

/**
 * A full snapshot from a manifest and its chunks: each held token's rows copied into cache order, and its key turned
 * from the position it was written at to the one the manifest gives it (RoPE rotations compose, so the key is what
 * the cache held, up to rounding). `chunks` is in the manifest's chunk order. What comes out passes the same checks
 * and restore as a full snapshot.
 */
export function assembleSnapshot(m: SnapshotManifest, chunks: readonly SnapshotChunk[], rope: RopeSpec | undefined): Snapshot {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const g = m.geometry;
  if (chunks.length !== m.chunks.length) corrupt('a KV chunk it names is missing');
  for (const [i, c] of chunks.entries()) {
    const cg = c.geometry;
    if (c.dtype !== m.dtype || cg.layers !== g.layers || cg.kvHeads !== g.kvHeads || cg.headDim !== g.headDim) corrupt('a KV chunk has another shape');
    if (c.keyPositions.length !== m.chunks[i].rows) corrupt('a KV chunk has another number of rows than the manifest says');
  }
  const n = m.chunkOf.length;
  const { kvHeads, headDim } = g;
  const kv: LayerKv[] = [];
  // runs of consecutive rows of one chunk: one copy per head and run
  const runs: { at: number; chunk: SnapshotChunk; row: number; count: number }[] = [];
  for (let i = 0; i < n; i++) {
    const last = runs.at(-1);
    const chunk = chunks[m.chunkOf[i]];
    if (last && last.chunk === chunk && last.row + last.count === m.rowOf[i]) last.count++;
    else runs.push({ at: i, chunk, row: m.rowOf[i], count: 1 });
  }
  for (let l = 0; l < (n ? g.layers : 0); l++) {
    const gather = (pick: (c: SnapshotChunk) => HostKvArray): HostKvArray => {
      const out = allocKv(m.dtype, kvHeads * n * headDim);
      for (const r of runs) {
        const src = pick(r.chunk);
        const rows = r.chunk.keyPositions.length;
        for (let h = 0; h < kvHeads; h++) {
          const from = (h * rows + r.row) * headDim;
          out.set(src.subarray(from, from + r.count * headDim), (h * n + r.at) * headDim);
        }
      }
      return out;
    };
    kv.push({ key: gather((c) => c.kv[l].key), value: gather((c) => c.kv[l].value) });
  }
  // turn keys in runs of one delta (rotateKeys works on a token range); float16 is widened once per layer, not per run
  const turns: { from: number; to: number; delta: number }[] = [];
  for (let i = 0; i < n; ) {
    const delta = m.cachePositions[i] - chunks[m.chunkOf[i]].keyPositions[m.rowOf[i]];
    let j = i + 1;
    while (j < n && m.cachePositions[j] - chunks[m.chunkOf[j]].keyPositions[m.rowOf[j]] === delta) j++;
    if (delta !== 0) turns.push({ from: i, to: j, delta });
    i = j;
  }
  if (turns.length && !rope) corrupt('its keys need turning and the model has no rotary embedding');
  for (const layer of turns.length ? kv : []) {
    const wide = toFloat32(layer.key);
    for (const t of turns) rotateKeys(wide, kvHeads, headDim, t.from, t.to, t.delta, rope!);
    if (wide !== layer.key) layer.key.set(fromFloat32(wide, 'float16'));
  }
  const { chunks: _c, chunkOf: _o, rowOf: _r, ...rest } = m;
  return { ...rest, kv };
}
