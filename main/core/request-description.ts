import type { Store } from '../store/store.js';
import { toRowId } from '../store/row-id.js';

/**
 * What a request asks of the core, in words the shell can put in a sentence ("chat.send in the chat "Notes" with the
 * model SmolLM2-135M"): the core says it as each request arrives, so if its main loop then freezes, the restart names
 * the chat and the model that froze it. Never throws: an unknown id is described by its method alone.
 */
export function describeRequest(store: Store, method: string, params: unknown): string {
  const p = (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
  try {
    if (typeof p.sessionId === 'string' || typeof p.sessionId === 'number') {
      const session = store.getSession(toRowId(p.sessionId, 'session'));
      const model = session && store.getModel(session.modelId);
      if (session) return clip(`${method} in the chat "${session.name}"${model ? ` with the model ${model.name}` : ''}`);
    }
    if (typeof p.modelId === 'string' || typeof p.modelId === 'number') {
      const model = store.getModel(toRowId(p.modelId, 'model'));
      if (model) return clip(`${method} for the model ${model.name}`);
    }
    if (typeof p.dir === 'string') return clip(`${method} for ${p.dir}`);
  } catch {
    // an id that is not one: the method says enough
  }
  return clip(method);
}

function clip(s: string): string {
  return s.length > 300 ? `${s.slice(0, 299)}…` : s;
}
