import type { LayerKv } from '../engine/layer-kv.js';
import { allocLike, type HostKvArray } from '../engine/kv-dtype.js';
import type { Snapshot } from './snapshot-codec.js';
import { encodeChunk } from './snapshot-chunk.js';
import { chunkHash } from './snapshot-frame.js';
import { encodeManifest, type SnapshotManifest } from './snapshot-manifest.js';

/** Where one held token's KV is stored. */
interface StoredRow {
  hash: string;
  row: number;
  token: number;
}

/** What one save writes: a manifest, the chunks it adds, and every chunk it names. */
export interface ChunkedSave {
  manifest: Uint8Array;
  added: { hash: string; bytes: Uint8Array }[];
  refs: string[];
  /** rows written now (new tokens, and the live rows of mostly dead chunks) */
  rowsWritten: number;
  /** the ledger's state once the save is stored */
  readonly after: { held: Map<number, StoredRow>; rows: Map<string, number>; seen: number };
}

/**
 * What of a cache is already stored in chunks, so a save appends only what is new: each held token (by its
 * position in the stream) maps to a chunk row. A token's K and V never change once computed, so a row stays valid
 * while the token is held; its key may have been turned since, which the manifest's cache position and the chunk's
 * key position tell the restore. A chunk whose rows are mostly no longer held is compacted (toCompact): its live rows
 * are written again with the new tokens, and the old chunk goes once no kept manifest names it.
 *
 * A ledger belongs to one cache (`owner`, the policy object): whoever replaces the cache or reads it anew starts a
 * new ledger (from the manifest it restored, or empty).
 */
export class ChunkLedger {
  private held = new Map<number, StoredRow>();
  private rows = new Map<string, number>();
  private seen = 0;

  constructor(readonly owner: object) {}

  /** The ledger of a cache just restored from `m` (its rows are what the cache holds now). */
  static fromManifest(owner: object, m: SnapshotManifest): ChunkLedger {
    const ledger = new ChunkLedger(owner);
    for (const c of m.chunks) ledger.rows.set(c.hash, c.rows);
    for (let i = 0; i < m.chunkOf.length; i++) {
      ledger.held.set(m.originalPositions[i], { hash: m.chunks[m.chunkOf[i]].hash, row: m.rowOf[i], token: m.tokens[i] });
    }
    ledger.seen = m.totalTokensSeen;
    return ledger;
  }

  /** Chunks the ledger relies on (the store must still hold them for a save to name them). */
  get chunkHashes(): string[] {
    return [...this.rows.keys()];
  }

  /**
   * The save of `s` (the same cache the ledger follows): its manifest, and a chunk with the rows not yet stored.
   * `coveredChars`: a checkpoint mid-answer holds that many characters of its message.
   */
  plan(s: Snapshot, coveredChars?: number): ChunkedSave {
    const n = s.tokens.length;
    const kvTokens = s.kv.length > 0 && s.kv[0].key.length > 0 ? n : 0;
    // a cache that went back (reset and read anew) may hold other tokens at the same stream positions
    const trusted = s.totalTokensSeen >= this.seen;
    const reuse: (StoredRow | null)[] = new Array(kvTokens).fill(null);
    const live = new Map<string, number>();
    for (let i = 0; trusted && i < kvTokens; i++) {
      const e = this.held.get(s.originalPositions[i]);
      if (!e || e.token !== s.tokens[i] || !this.rows.has(e.hash)) continue;
      reuse[i] = e;
      live.set(e.hash, (live.get(e.hash) ?? 0) + 1);
    }
    // compaction: a chunk mostly dead is not named again; its live rows go into the new chunk
    const compact = this.toCompact(live, kvTokens);
    for (let i = 0; i < kvTokens; i++) {
      const e = reuse[i];
      if (e && compact.has(e.hash)) reuse[i] = null;
    }
    const write: number[] = [];
    for (let i = 0; i < kvTokens; i++) if (!reuse[i]) write.push(i);

    const added: ChunkedSave['added'] = [];
    let newHash = '';
    if (write.length) {
      const bytes = encodeChunk({
        dtype: s.dtype,
        geometry: s.geometry,
        keyPositions: write.map((i) => s.cachePositions[i]),
        kv: s.kv.map((l) => gatherRows(l, s.geometry.kvHeads, s.geometry.headDim, n, write)),
      });
      newHash = chunkHash(bytes);
      added.push({ hash: newHash, bytes });
    }
    const index = new Map<string, number>();
    const chunks: SnapshotManifest['chunks'] = [];
    const chunkOf: number[] = [];
    const rowOf: number[] = [];
    const held = new Map<number, StoredRow>();
    let written = 0;
    for (let i = 0; i < kvTokens; i++) {
      const row = reuse[i] ?? { hash: newHash, row: written++, token: s.tokens[i] };
      let c = index.get(row.hash);
      if (c === undefined) {
        index.set(row.hash, (c = chunks.length));
        chunks.push({ hash: row.hash, rows: row.hash === newHash ? write.length : this.rows.get(row.hash)! });
      }
      chunkOf.push(c);
      rowOf.push(row.row);
      held.set(s.originalPositions[i], row);
    }
    const { kv: _kv, ...rest } = s;
    const manifest = encodeManifest({ ...rest, chunks, chunkOf, rowOf, ...(coveredChars !== undefined ? { coveredChars } : {}) });
    return {
      manifest,
      added,
      refs: chunks.map((c) => c.hash),
      rowsWritten: write.length,
      after: { held, rows: new Map(chunks.map((c) => [c.hash, c.rows])), seen: s.totalTokensSeen },
    };
  }

  /**
   * The chunks to rewrite: each with under 1/8 of its rows still held (rewriting them costs at most 1/7 of what they
   * waste, so a chunk's rows are written about 1.14 times in all), and while the chunks named hold more than twice the
   * rows the cache does, the deadest of the rest (the bound on what a session stores).
   */
  private toCompact(live: Map<string, number>, held: number): Set<string> {
    const out = new Set<string>();
    let named = 0;
    for (const [hash, n] of live) {
      const rows = this.rows.get(hash)!;
      if (8 * n < rows) out.add(hash);
      else named += rows;
    }
    const rest = [...live].filter(([h]) => !out.has(h)).sort((a, b) => a[1] / this.rows.get(a[0])! - b[1] / this.rows.get(b[0])!);
    for (const [hash] of rest) {
      if (named <= 2 * held) break;
      out.add(hash);
      named -= this.rows.get(hash)!;
    }
    return out;
  }

  /** The save is stored: the ledger follows it. */
  commit(save: ChunkedSave): void {
    this.held = save.after.held;
    this.rows = save.after.rows;
    this.seen = save.after.seen;
  }
}

/** Rows `pick` (ascending token indices) of a [kvHeads, n, headDim] layer, as [kvHeads, pick.length, headDim]. */
function gatherRows(l: LayerKv, kvHeads: number, headDim: number, n: number, pick: number[]): LayerKv {
  const one = (a: HostKvArray): HostKvArray => {
    const out = allocLike(a, kvHeads * pick.length * headDim);
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < pick.length; ) {
        let k = j + 1;
        while (k < pick.length && pick[k] === pick[k - 1] + 1) k++;
        const from = (h * n + pick[j]) * headDim;
        out.set(a.subarray(from, from + (k - j) * headDim), (h * pick.length + j) * headDim);
        j = k;
      }
    }
    return out;
  };
  return { key: one(l.key), value: one(l.value) };
}
