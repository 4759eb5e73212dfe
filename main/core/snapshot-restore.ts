import { restoreSnapshot } from '../cache/cache-snapshot.js';
import { checkSnapshot } from '../cache/snapshot-check.js';
import { decodeSnapshot } from '../cache/snapshot-codec.js';
import type { Engine } from '../engine/engine.js';
import { errorCode, PerpetuaError, type ErrorCode } from '../shared/errors.js';
import type { Store } from '../store/store.js';

/**
 * Restores the newest of a session's snapshots that passes every check into the engine's policy, and returns
 * the id of the last message it covers (null: only the system prompt), or undefined when none could be used.
 * Each refused snapshot is deleted (unless `deleteRefused` is false) — it can never stand in a session's way again — and the first refusal is
 * returned as a sentence with its code.
 */
export async function restoreNewestSnapshot(
  store: Store,
  engine: Engine,
  sessionId: number,
  opts: { deleteRefused?: boolean } = {},
): Promise<{ coveredId: number | null | undefined; refused: { code: ErrorCode; reason: string } | null }> {
  let refused: { code: ErrorCode; reason: string } | null = null;
  for (const info of store.listSnapshots(sessionId)) {
    const stored = store.getSnapshot(info.id);
    if (!stored) continue;
    try {
      const snapshot = decodeSnapshot(stored.bytes, { modelFingerprint: engine.model.fingerprint });
      checkSnapshot(snapshot, { geometry: engine.model.geometry, vocabSize: engine.model.vocabSize, capacity: engine.policy.capacity });
      await restoreSnapshot(engine, snapshot);
      return { coveredId: stored.messageId, refused };
    } catch (err) {
      engine.policy.reset();
      if (opts.deleteRefused !== false) store.deleteSnapshot(info.id);
      // the first refusal is the one reported: older snapshots usually fail the same way
      refused ??= { code: errorCode(err) === 'failed' ? 'snapshot_mismatch' : errorCode(err), reason: refusal(err) };
    }
  }
  return { coveredId: undefined, refused };
}

/** A sentence for the user, whatever failed: our own refusals say why; anything else is named without its log text. */
function refusal(err: unknown): string {
  if (err instanceof PerpetuaError) return err.message;
  return 'The saved KV cache could not be loaded, so it was discarded and the conversation will be rebuilt from its transcript.';
}
