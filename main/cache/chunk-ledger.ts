import { bytesPerElement } from '../engine/kv-dtype.js';
import type { CacheRows } from './cache-snapshot.js';
import { encodeChunk } from './snapshot-chunk.js';
import { chunkHash } from './snapshot-frame.js';
import { encodeManifest, type SnapshotManifest } from './snapshot-manifest.js';

/** Where one held token's KV is stored. */
interface StoredRow {
  hash: string;
  row: number;
  token: number;
}

/** KV bytes per chunk at most: a piece is read, encoded and stored in a few milliseconds, then the thread is free again. */
export const PIECE_BYTES = 256 * 1024;

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
   * The save of the cache the ledger follows: its manifest, and chunks with the rows not yet stored, each at most
   * `PIECE_BYTES` of KV so that no step of a save holds the core's thread for long; `pause` runs between pieces.
   * `coveredChars`: a checkpoint mid-answer holds that many characters of its message.
   */
  async plan(c: CacheRows, opts: { coveredChars?: number; pause?: () => Promise<void> } = {}): Promise<ChunkedSave> {
    const s = c.meta;
    const kvTokens = c.kvTokens;
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
    // compaction: a chunk mostly dead is not named again; its live rows go into the new chunks
    const compact = this.toCompact(live, kvTokens);
    for (let i = 0; i < kvTokens; i++) {
      const e = reuse[i];
      if (e && compact.has(e.hash)) reuse[i] = null;
    }
    const write: number[] = [];
    for (let i = 0; i < kvTokens; i++) if (!reuse[i]) write.push(i);

    const g = s.geometry;
    const rowBytes = 2 * g.layers * g.kvHeads * g.headDim * bytesPerElement(s.dtype);
    const pieceRows = Math.max(1, Math.floor(PIECE_BYTES / rowBytes));
    const added: ChunkedSave['added'] = [];
    for (let at = 0; at < write.length; at += pieceRows) {
      if (at > 0) await opts.pause?.();
      const piece = write.slice(at, at + pieceRows);
      const bytes = encodeChunk({ dtype: s.dtype, geometry: g, keyPositions: piece.map((i) => s.cachePositions[i]), kv: await c.rows(piece) });
      const hash = chunkHash(bytes);
      added.push({ hash, bytes });
      piece.forEach((i, row) => (reuse[i] = { hash, row, token: s.tokens[i] }));
    }
    const newRows = new Map(added.map((a) => [a.hash, 0]));
    for (const i of write) newRows.set(reuse[i]!.hash, newRows.get(reuse[i]!.hash)! + 1);
    const index = new Map<string, number>();
    const chunks: SnapshotManifest['chunks'] = [];
    const chunkOf: number[] = [];
    const rowOf: number[] = [];
    const held = new Map<number, StoredRow>();
    for (let i = 0; i < kvTokens; i++) {
      const row = reuse[i]!;
      let k = index.get(row.hash);
      if (k === undefined) {
        index.set(row.hash, (k = chunks.length));
        chunks.push({ hash: row.hash, rows: newRows.get(row.hash) ?? this.rows.get(row.hash)! });
      }
      chunkOf.push(k);
      rowOf.push(row.row);
      held.set(s.originalPositions[i], row);
    }
    const coveredChars = opts.coveredChars;
    const manifest = encodeManifest({ ...s, chunks, chunkOf, rowOf, ...(coveredChars !== undefined ? { coveredChars } : {}) });
    return {
      manifest,
      added,
      refs: chunks.map((x) => x.hash),
      rowsWritten: write.length,
      after: { held, rows: new Map(chunks.map((x) => [x.hash, x.rows])), seen: s.totalTokensSeen },
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
