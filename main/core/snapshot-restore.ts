import { isSnapshotOf, restoreContents, restoreSnapshot, snapshotContents } from '../cache/cache-snapshot.js';
import { forkCache } from '../cache/fork-cache.js';
import { checkSnapshot } from '../cache/snapshot-check.js';
import type { Snapshot } from '../cache/snapshot-codec.js';
import type { SnapshotManifest } from '../cache/snapshot-manifest.js';
import { readStoredSnapshot } from '../cache/stored-snapshot.js';
import type { Engine } from '../engine/engine.js';
import { errorCode, PerpetuaError, type ErrorCode } from '../shared/errors.js';
import type { Store } from '../store/store.js';

export interface SnapshotChoice {
  /** the ids of the messages the cache is to hold, in order: only a snapshot of one of them (or of none) fits */
  context: readonly number[];
  /** a snapshot of another cache policy is turned into the session's (forkCache) rather than refused */
  fork?: boolean;
  /** false: refused snapshots stay in the store (a policy switch that may still be cancelled keeps what the old policy resumes from) */
  deleteRefused?: boolean;
  /** the characters of each context message: a checkpoint taken mid-answer fits only while its message holds what it covers */
  lengths?: ReadonlyMap<number, number>;
}

/**
 * Restores the snapshot (full, or a chunked one's manifest and chunks) that covers the most of `context` (a branch of the transcript) and passes every check into
 * the engine's policy, and returns the id of the last message it covers (null: only the system prompt), or undefined
 * when none could be used. Snapshots of other branches are left for when those are shown again. Each refused
 * snapshot is deleted (unless `deleteRefused` is false) — it can never stand in a session's way again — and the first refusal is returned as a
 * sentence with its code.
 */
export async function restoreNewestSnapshot(
  store: Store,
  engine: Engine,
  sessionId: number,
  choice: SnapshotChoice,
): Promise<RestoredSnapshot> {
  let refused: { code: ErrorCode; reason: string } | null = null;
  const depth = new Map(choice.context.map((id, i) => [id, i + 1]));
  const fitting = store
    .listSnapshots(sessionId)
    .filter((s) => s.messageId === null || depth.has(s.messageId))
    .sort((a, b) => (b.messageId === null ? 0 : depth.get(b.messageId)!) - (a.messageId === null ? 0 : depth.get(a.messageId)!) || b.id - a.id);
  for (const info of fitting) {
    const stored = store.getSnapshot(info.id);
    if (!stored) continue;
    try {
      const { fingerprint, config } = engine.model;
      const read = readStoredSnapshot(stored.bytes, { modelFingerprint: fingerprint, rope: config.rope }, (h) => store.chunks.load(sessionId, h));
      const coveredChars = read.manifest?.coveredChars;
      // a checkpoint of more of its answer than the transcript kept (a crash before the text was committed): an older one
      if (coveredChars !== undefined && (stored.messageId === null || coveredChars > (choice.lengths?.get(stored.messageId) ?? -1))) continue;
      const forked = await restoreInto(engine, read.snapshot, choice.fork === true);
      // the cache holds the manifest's rows as they are only when it was not derived into another policy's
      return { coveredId: stored.messageId, refused, base: forked ? null : read.manifest, coveredChars };
    } catch (err) {
      engine.policy.reset();
      if (choice.deleteRefused !== false) store.deleteSnapshot(info.id);
      // the first refusal is the one reported: older snapshots usually fail the same way
      refused ??= { code: errorCode(err) === 'failed' ? 'snapshot_mismatch' : errorCode(err), reason: refusal(err) };
    }
  }
  return { coveredId: undefined, refused, base: null };
}

export interface RestoredSnapshot {
  /** the last message the restored cache covers (null: only the system prompt); undefined: none restored */
  coveredId: number | null | undefined;
  refused: { code: ErrorCode; reason: string } | null;
  /** the chunked snapshot's manifest the cache now holds (null: none, a full one, or one derived into another policy) */
  base: SnapshotManifest | null;
  /** a mid-answer checkpoint: the characters of the covered message the cache holds */
  coveredChars?: number;
}

/**
 * The snapshot into the engine's cache; one of another policy derived into the session's when `fork` (else refused).
 * True when it was derived.
 */
async function restoreInto(engine: Engine, snapshot: Snapshot, fork: boolean): Promise<boolean> {
  const { geometry, config, vocabSize } = engine.model;
  const spec = engine.policy.spec;
  const forking = fork && !isSnapshotOf(snapshot, spec);
  // another policy's cache may be larger than this one's: forkCache keeps what this one holds
  checkSnapshot(snapshot, { geometry, vocabSize, capacity: forking ? Number.MAX_SAFE_INTEGER : engine.policy.capacity });
  const forked = forking ? forkCache(snapshotContents(snapshot), spec, geometry, config.rope) : null;
  if (forked) {
    await restoreContents(engine, forked);
    return true;
  }
  await restoreSnapshot(engine, snapshot); // refuses another policy's cache
  return false;
}

/** A sentence for the user, whatever failed: our own refusals say why; anything else is named without its log text. */
function refusal(err: unknown): string {
  if (err instanceof PerpetuaError) return err.message;
  return 'The saved KV cache could not be loaded, so it was discarded and the conversation will be rebuilt from its transcript.';
}
