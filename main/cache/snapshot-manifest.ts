import { isCount, isSnapshotHeader, MAGIC, SnapshotCorruptError, SnapshotInvalidError, SnapshotMismatchError, SnapshotVersionError, type Snapshot, type SnapshotHeader } from './snapshot-codec.js';
import { encodeFrame, openFrame } from './snapshot-frame.js';

/**
 * The manifest of a chunked snapshot (format version 2): everything a full snapshot holds but the KV, and where
 * each held token's KV lives — a row of a chunk (snapshot-chunk.ts), named by the chunk's SHA-256. It is small
 * (a few bytes per token), so a turn writes it whole and appends only its new tokens' chunk.
 *
 * Frame (snapshot-frame.ts, the full format's magic): "PRPKV\0", version 2, JSON header, i32 tokens[n], the
 * original and the cache positions each as runs of consecutive positions (i32 pairs: first, count; a sink cache has
 * two or three), history[h], then runs of held rows as i32 triples (chunk index, first row, count) that cover the
 * kvTokens tokens in cache order. Small enough (about 4 bytes a token) to sit in its row's page, with no overflow.
 */
export interface ChunkRef {
  /** SHA-256 of the chunk's bytes, hex */
  hash: string;
  rows: number;
}

export interface SnapshotManifest extends Omit<Snapshot, 'kv'> {
  chunks: ChunkRef[];
  /** for each token with KV (all tokens, or none for a tokens-only cache), in cache order: its chunk index and row */
  chunkOf: number[];
  rowOf: number[];
  /**
   * A checkpoint taken while its message streamed: the cache holds that message's first `coveredChars` characters
   * only (absent: all of it).
   */
  coveredChars?: number;
}

export const MANIFEST_VERSION = 2;

interface ManifestHeader extends SnapshotHeader {
  chunks: ChunkRef[];
  runs: number;
  /** pairs in the original and cache position runs */
  originalRuns: number;
  cacheRuns: number;
  coveredChars?: number;
}

export function encodeManifest(m: SnapshotManifest): Uint8Array {
  const n = m.tokens.length;
  const kvTokens = m.chunkOf.length;
  if (kvTokens !== 0 && kvTokens !== n) throw new SnapshotInvalidError('a manifest must place every token or none');
  if (m.rowOf.length !== kvTokens || m.originalPositions.length !== n || m.cachePositions.length !== n) {
    throw new SnapshotInvalidError('manifest arrays differ in length');
  }
  const runs: number[] = [];
  for (let i = 0; i < kvTokens; i++) {
    const last = runs.length - 3;
    if (last >= 0 && runs[last] === m.chunkOf[i] && runs[last + 1] + runs[last + 2] === m.rowOf[i]) runs[last + 2]++;
    else runs.push(m.chunkOf[i], m.rowOf[i], 1);
  }
  const header: ManifestHeader = {
    modelFingerprint: m.modelFingerprint,
    policy: { name: m.policy.name, params: { ...m.policy.params } },
    dtype: m.dtype,
    geometry: { layers: m.geometry.layers, kvHeads: m.geometry.kvHeads, headDim: m.geometry.headDim },
    totalTokensSeen: m.totalTokensSeen,
    tokenCount: n,
    historyCount: m.history ? m.history.length : null,
    kvTokens,
    chunks: m.chunks.map((c) => ({ hash: c.hash, rows: c.rows })),
    runs: runs.length / 3,
    originalRuns: 0,
    cacheRuns: 0,
    ...(m.coveredChars !== undefined ? { coveredChars: m.coveredChars } : {}),
  };
  const original = positionRuns(m.originalPositions);
  const cache = positionRuns(m.cachePositions);
  header.originalRuns = original.length / 2;
  header.cacheRuns = cache.length / 2;
  return encodeFrame(MAGIC, MANIFEST_VERSION, {
    header,
    ints: [m.tokens, original, cache, m.history ?? [], runs],
    floats: [],
  });
}

/** The format version of stored snapshot bytes (1: full, 2: manifest), or null when they are too short to say. */
export function snapshotVersionOf(bytes: Uint8Array): number | null {
  return bytes.byteLength >= 8 ? bytes[6] | (bytes[7] << 8) : null;
}

/**
 * Parses and verifies a manifest. Refuses, in this order: damaged bytes (SnapshotCorruptError), another format
 * version (SnapshotVersionError), another model (SnapshotMismatchError).
 */
export function decodeManifest(bytes: Uint8Array, expect: { modelFingerprint: string }): SnapshotManifest {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const f = openFrame(bytes, MAGIC, 'snapshot manifest');
  if (f.version !== MANIFEST_VERSION) throw new SnapshotVersionError(f.version, MANIFEST_VERSION);
  const h = f.header as ManifestHeader;
  if (!wellFormed(h)) return corrupt('malformed manifest header');
  if (h.modelFingerprint !== expect.modelFingerprint) throw new SnapshotMismatchError(expect.modelFingerprint, h.modelFingerprint);
  const n = h.tokenCount;
  const tokens = f.ints(n);
  const originalPositions = fromRuns(f.ints(2 * h.originalRuns), n, corrupt);
  const cachePositions = fromRuns(f.ints(2 * h.cacheRuns), n, corrupt);
  const history = f.ints(h.historyCount ?? 0);
  const runs = f.ints(3 * h.runs);
  if (f.left() !== 0) corrupt('the manifest is longer than its header says');
  const chunkOf: number[] = [];
  const rowOf: number[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    const [chunk, first, count] = [runs[r], runs[r + 1], runs[r + 2]];
    const ref = h.chunks[chunk];
    if (!ref || first < 0 || count < 1 || first + count > ref.rows) corrupt('the manifest names rows its chunks do not have');
    for (let i = 0; i < count; i++) {
      chunkOf.push(chunk);
      rowOf.push(first + i);
    }
  }
  if (chunkOf.length !== h.kvTokens) corrupt('the manifest places another number of tokens than it holds');
  const m: SnapshotManifest = {
    modelFingerprint: h.modelFingerprint,
    policy: h.policy,
    dtype: h.dtype,
    geometry: h.geometry,
    tokens,
    originalPositions,
    cachePositions,
    totalTokensSeen: h.totalTokensSeen,
    chunks: h.chunks,
    chunkOf,
    rowOf,
  };
  if (h.historyCount !== null) m.history = history;
  if (h.coveredChars !== undefined) m.coveredChars = h.coveredChars;
  return m;
}

const HASH = /^[0-9a-f]{64}$/;

function wellFormed(h: ManifestHeader): boolean {
  return (
    isSnapshotHeader(h) &&
    isCount(h.runs) &&
    isCount(h.originalRuns) &&
    isCount(h.cacheRuns) &&
    (h.coveredChars === undefined || isCount(h.coveredChars)) &&
    Array.isArray(h.chunks) &&
    h.chunks.every((c) => typeof c === 'object' && c !== null && typeof c.hash === 'string' && HASH.test(c.hash) && isCount(c.rows))
  );
}

/** Positions as (first, count) pairs of consecutive runs. */
function positionRuns(positions: readonly number[]): number[] {
  const runs: number[] = [];
  for (const p of positions) {
    const last = runs.length - 2;
    if (last >= 0 && runs[last] + runs[last + 1] === p) runs[last + 1]++;
    else runs.push(p, 1);
  }
  return runs;
}

function fromRuns(runs: number[], n: number, corrupt: (reason: string) => never): number[] {
  const out: number[] = [];
  for (let r = 0; r < runs.length; r += 2) {
    const [first, count] = [runs[r], runs[r + 1]];
    if (count < 1 || out.length + count > n) corrupt('its position runs do not fit its tokens');
    for (let i = 0; i < count; i++) out.push(first + i);
  }
  if (out.length !== n) corrupt('its position runs do not fit its tokens');
  return out;
}
