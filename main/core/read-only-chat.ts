import { existsSync } from 'node:fs';
import type { ReadOnlyReason, Stats } from '../api/schemas.js';
import type { ModelLibrary } from '../models/model-library.js';
import { toConfig } from '../policy/policy.js';
import type { Session } from '../store/types.js';
import { sessionPolicy } from './persistent-chat.js';

/**
 * Why a chat can be read but not run, or null when it can run. Its model's folder gone (deleted, moved, an unplugged
 * disk) is the one reason: opening it then shows the transcript instead of failing, so the app never stays on
 * another chat to which the next message would go.
 */
export function readOnlyReason(library: ModelLibrary, session: Session): ReadOnlyReason | null {
  const model = library.row(session.modelId);
  if (existsSync(model.dir)) return null;
  return { code: 'model_missing', modelId: String(model.id), modelName: model.name, path: model.dir };
}

/** The figures of a chat nothing is loaded for: an empty cache under its policy. */
export function idleStats(session: Session): Stats {
  return {
    sessionId: String(session.id),
    tokensPerSecond: 0,
    cacheFill: 0,
    cacheCapacity: 0,
    kvBytes: 0,
    executionProvider: 'cpu',
    totalTokensSeen: session.totalTokensSeen,
    policy: toConfig(sessionPolicy(session)),
  };
}
