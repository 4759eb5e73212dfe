import type { Store } from '../store/store.js';
import { toRowId } from '../store/row-id.js';

/** What the core says of a request as it arrives (message-port-host.ts). */
export interface RequestWork {
  /** the request in words */
  what: string;
  /** the chat whose model the request runs (opening it, writing an answer): a freeze in it is that chat's */
  chatId?: string;
  /** called once the request is over, however it ended */
  done?(): void;
}

/** Requests that load or run a chat's model: a hostile template or tokenizer freezes the core in these. */
const RUNS_A_CHAT = new Set([
  'sessions.open',
  'sessions.setModel',
  'sessions.setSystemPrompt',
  'chat.send',
  'chat.regenerate',
  'chat.continue',
  'chat.edit',
  'chat.switchBranch',
  'policy.set',
  'inspect.sinks',
  'ab.start',
]);

/**
 * What a request asks of the core, in words the shell can put in a sentence ("chat.send in the chat "Notes" with the
 * model SmolLM2-135M"): the core says it as each request arrives, so if its main loop then freezes, the restart names
 * the chat and the model that froze it. Never throws: an unknown id is described by its method alone.
 */
export function describeRequest(store: Store, method: string, params: unknown): string {
  const p = paramsOf(params);
  try {
    const chat = chatIdOf(method, params);
    if (chat !== undefined) {
      const session = store.getSession(toRowId(chat, 'session'));
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

/** The chat a request names (`sessionId`, or the `id` of a sessions.* method), as sent; undefined when none. */
export function chatIdOf(method: string, params: unknown): string | undefined {
  const p = paramsOf(params);
  const id = p.sessionId ?? (method.startsWith('sessions.') ? p.id : undefined);
  return typeof id === 'string' || typeof id === 'number' ? String(id).slice(0, 40) : undefined;
}

/** The chat whose model the request loads or runs, if it is one of those requests. */
export function chatRunBy(method: string, params: unknown): string | undefined {
  return RUNS_A_CHAT.has(method) ? chatIdOf(method, params) : undefined;
}

function paramsOf(params: unknown): Record<string, unknown> {
  return (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
}

function clip(s: string): string {
  return s.length > 300 ? `${s.slice(0, 299)}…` : s;
}
