import type { Db } from './database.js';
import { NotFoundError } from './errors.js';
import { PerpetuaError } from '../shared/errors.js';
import { toSnapshotInfo, type SnapshotRow } from './rows.js';
import { inTransaction, prepareTyped } from './typed-statements.js';
import type { SnapshotInfo } from './types.js';

/** A save names a chunk the store no longer holds (dropped by the budget or with a refused snapshot): write it whole. */
export class MissingChunkError extends PerpetuaError {
  override name = 'MissingChunkError';
  override readonly code = 'snapshot_mismatch';
  constructor() {
    super('A saved piece of the KV cache is gone, so the cache is saved whole.');
  }
}

/** What a chunked save stores: a manifest, the chunks it adds, and every chunk it names (by hash). */
export interface ChunkedSnapshotWrite {
  manifest: Uint8Array;
  added: readonly { hash: string; bytes: Uint8Array }[];
  refs: readonly string[];
}

/**
 * The chunks of chunked KV snapshots (format version 2): a snapshot row holds the manifest; its KV lives in chunks
 * written once per session and named by SHA-256, shared by every manifest that names them. A chunk is deleted with
 * the last manifest naming it (migration 7's trigger), so pruning, refusing or cascading snapshots frees it.
 */
export class SnapshotChunks {
  private readonly s;

  constructor(private readonly db: Db) {
    const p = <P extends unknown[], R = unknown>(sql: string) => prepareTyped<P, R>(db, sql);
    this.s = {
      session: p<[number], { id: number }>('SELECT id FROM sessions WHERE id = ?'),
      messageSession: p<[number], { session_id: number }>('SELECT session_id FROM messages WHERE id = ?'),
      insertChunk: p<[number, string, number, Buffer, number]>(
        'INSERT OR IGNORE INTO snapshot_chunks (session_id, hash, created_at, bytes, size) VALUES (?, ?, ?, ?, ?)'),
      chunkId: p<[number, string], { id: number }>('SELECT id FROM snapshot_chunks WHERE session_id = ? AND hash = ?'),
      chunkBytes: p<[number, string], { bytes: Buffer }>('SELECT bytes FROM snapshot_chunks WHERE session_id = ? AND hash = ?'),
      insertSnapshot: p<[number, number | null, number, Buffer, number], SnapshotRow>(
        'INSERT INTO snapshots (session_id, message_id, created_at, bytes, size) VALUES (?, ?, ?, ?, ?) RETURNING id, session_id, message_id, created_at, size'),
      insertRef: p<[number, number]>('INSERT OR IGNORE INTO snapshot_chunk_refs (snapshot_id, chunk_id) VALUES (?, ?)'),
      prune: prepareTyped<[{ sessionId: number; keep: number }], unknown>(db, `
        DELETE FROM snapshots WHERE session_id = @sessionId AND id NOT IN
          (SELECT id FROM snapshots WHERE session_id = @sessionId ORDER BY id DESC LIMIT @keep)`),
      snapshotBytes: p<[number], { n: number }>('SELECT coalesce(sum(size), 0) AS n FROM snapshots WHERE session_id = ?'),
      chunkBytesUsed: p<[number], { n: number }>('SELECT coalesce(sum(size), 0) AS n FROM snapshot_chunks WHERE session_id = ?'),
      chunkCount: p<[number], { n: number }>('SELECT count(*) AS n FROM snapshot_chunks WHERE session_id = ?'),
      // chunks no manifest names: those a save added before it was cut short (the process died between its steps)
      unnamed: p<[number]>(
        'DELETE FROM snapshot_chunks WHERE session_id = ? AND NOT EXISTS (SELECT 1 FROM snapshot_chunk_refs r WHERE r.chunk_id = snapshot_chunks.id)'),
    };
  }

  /**
   * Stores one chunk ahead of the manifest that will name it, in its own short transaction (a save adds its chunks
   * one at a time, with the core's thread free in between). Until a manifest names it, the next save may drop it.
   */
  add(sessionId: number, chunk: { hash: string; bytes: Uint8Array }): void {
    inTransaction(this.db, () => {
      if (!this.s.session.get(sessionId)) throw new NotFoundError('session', sessionId);
      this.s.insertChunk.run(sessionId, chunk.hash, Date.now(), view(chunk.bytes), chunk.bytes.byteLength);
    });
  }

  /**
   * Stores a manifest with the chunks it adds (or that `add` stored before), and keeps only the newest `keep`
   * snapshots of the session: chunks no kept manifest names go, with those an interrupted save left. Throws
   * MissingChunkError, storing nothing, when a chunk it names is gone.
   */
  save(sessionId: number, messageId: number | null, w: ChunkedSnapshotWrite, keep = 3): SnapshotInfo {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`A chunked save keeps at least 1 snapshot, got ${keep}.`);
    return inTransaction(this.db, () => {
      if (!this.s.session.get(sessionId)) throw new NotFoundError('session', sessionId);
      if (messageId !== null && this.s.messageSession.get(messageId)?.session_id !== sessionId) throw new NotFoundError('message', messageId);
      const now = Date.now();
      for (const c of w.added) this.s.insertChunk.run(sessionId, c.hash, now, view(c.bytes), c.bytes.byteLength);
      const ids = w.refs.map((hash) => this.s.chunkId.get(sessionId, hash)?.id);
      if (ids.some((id) => id === undefined)) throw new MissingChunkError();
      const row = this.s.insertSnapshot.get(sessionId, messageId, now, view(w.manifest), w.manifest.byteLength)!;
      for (const id of ids) this.s.insertRef.run(row.id, id!);
      this.s.prune.run({ sessionId, keep });
      this.s.unnamed.run(sessionId);
      return toSnapshotInfo(row);
    });
  }

  /** The bytes of the session's chunks with these hashes, in order (undefined where one is gone). */
  load(sessionId: number, hashes: readonly string[]): (Uint8Array | undefined)[] {
    return hashes.map((h) => this.s.chunkBytes.get(sessionId, h)?.bytes);
  }

  /** Whether the session still holds every one of these chunks. */
  has(sessionId: number, hashes: readonly string[]): boolean {
    return hashes.every((h) => this.s.chunkId.get(sessionId, h) !== undefined);
  }

  /** Bytes the session's snapshots take: manifests and full snapshots, and chunks. */
  bytesUsed(sessionId: number): number {
    return this.s.snapshotBytes.get(sessionId)!.n + this.s.chunkBytesUsed.get(sessionId)!.n;
  }

  chunkCount(sessionId: number): number {
    return this.s.chunkCount.get(sessionId)!.n;
  }
}

/** A view, not a copy: chunks can be tens of MB. */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
