import type { RopeSpec } from '../engine/model-config.js';
import { decodeSnapshot, SnapshotCorruptError, type Snapshot } from './snapshot-codec.js';
import { decodeChunk } from './snapshot-chunk.js';
import { chunkHash } from './snapshot-frame.js';
import { assembleSnapshot } from './snapshot-assembly.js';
import { decodeManifest, MANIFEST_VERSION, snapshotVersionOf, type SnapshotManifest } from './snapshot-manifest.js';

/** A stored snapshot read back: the cache it holds, and its manifest when it is chunked (what a next save builds on). */
export interface ReadSnapshot {
  snapshot: Snapshot;
  manifest: SnapshotManifest | null;
}

/**
 * Reads stored snapshot bytes of either format: a full snapshot (version 1), or a manifest (version 2) whose chunks
 * `loadChunks` fetches by hash and whose KV is assembled into a full snapshot. Every refusal is a snapshot_mismatch
 * error: damaged bytes, a missing or substituted chunk, another format version, another model.
 */
export function readStoredSnapshot(
  bytes: Uint8Array,
  expect: { modelFingerprint: string; rope: RopeSpec | undefined },
  loadChunks: (hashes: readonly string[]) => (Uint8Array | undefined)[],
): ReadSnapshot {
  if (snapshotVersionOf(bytes) !== MANIFEST_VERSION) return { snapshot: decodeSnapshot(bytes, expect), manifest: null };
  const manifest = decodeManifest(bytes, expect);
  const stored = loadChunks(manifest.chunks.map((c) => c.hash));
  const chunks = stored.map((b, i) => {
    if (!b) throw new SnapshotCorruptError('a piece of it is gone');
    if (chunkHash(b) !== manifest.chunks[i].hash) throw new SnapshotCorruptError('a piece of it is not the one it names');
    return decodeChunk(b);
  });
  return { snapshot: assembleSnapshot(manifest, chunks, expect.rope), manifest };
}
