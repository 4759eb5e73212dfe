/**
 * The client half of the wire: turns method calls into validated request envelopes and validated
 * responses/events back into promises and listener calls. Used by the preload (over the core's
 * MessagePort) and by the web test host's `window.perpetua` shim (over a WebSocket).
 */
import { ApiError, describeZodError } from './api-error.js';
import { isEventEnvelope, ResponseEnvelopeSchema, type RequestEnvelope } from './envelope.js';
import { events, isEventName, methods, type EventName, type MethodName } from './methods.js';
import type { PerpetuaClientBridge, PerpetuaEvents } from './perpetua-api.js';

export interface ApiClient {
  /** The object to expose as `window.perpetua`. */
  readonly bridge: PerpetuaClientBridge;
  /** Feed every message that arrives from the core. */
  receive(message: unknown): void;
  /** Reject every pending call (the transport went away). */
  failPending(reason: string): void;
  /** Deliver an event produced on this side (e.g. coreRestarted from the shell), validated like the rest. */
  emit<K extends EventName>(event: K, payload: PerpetuaEvents[K]): void;
  /** Number of calls waiting for an answer. */
  readonly pendingCount: number;
}

export interface ApiClientOptions {
  /** Sends one request envelope to the core (structured-clone or JSON, the transport decides). */
  send(request: RequestEnvelope): void;
  /** Reports malformed traffic from the core (defaults to console.warn). */
  onProtocolError?(message: string): void;
}

interface Pending {
  method: MethodName;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  const protocolError = opts.onProtocolError ?? ((m: string) => console.warn(`[perpetua] ${m}`));

  function call(method: MethodName, params: unknown): Promise<unknown> {
    const spec = methods[method];
    const parsed = spec.params.safeParse(params);
    if (!parsed.success) {
      return Promise.reject(new ApiError('invalid_params', describeZodError(parsed.error, `${method} params`)));
    }
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { method, resolve, reject });
      try {
        opts.send({ id, method, params: parsed.data });
      } catch (err) {
        pending.delete(id);
        reject(new ApiError('disconnected', `Could not reach the core: ${(err as Error).message}`));
      }
    });
  }

  function dispatchEvent(name: EventName, payload: unknown): void {
    const parsed = events[name].safeParse(payload);
    if (!parsed.success) {
      protocolError(describeZodError(parsed.error, `${name} event`));
      return;
    }
    const set = listeners.get(name);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as (p: unknown) => void)(parsed.data);
      } catch (err) {
        protocolError(`A ${name} listener threw: ${(err as Error).message}`);
      }
    }
  }

  function receive(message: unknown): void {
    if (isEventEnvelope(message)) {
      if (!isEventName(message.event)) {
        protocolError(`Unknown event "${String(message.event)}".`);
        return;
      }
      dispatchEvent(message.event, message.payload);
      return;
    }
    const env = ResponseEnvelopeSchema.safeParse(message);
    if (!env.success) {
      protocolError(describeZodError(env.error, 'response envelope'));
      return;
    }
    const { id } = env.data;
    const p = typeof id === 'number' ? pending.get(id) : undefined;
    if (!p) {
      protocolError(`Response to unknown request ${String(id)}.`);
      return;
    }
    pending.delete(id as number);
    if ('error' in env.data) {
      const e = env.data.error;
      p.reject(new ApiError(e.code, e.message, e.name));
      return;
    }
    const result = methods[p.method].result.safeParse(env.data.result);
    if (!result.success) {
      p.reject(new ApiError('invalid_result', describeZodError(result.error, `${p.method} result`)));
      return;
    }
    p.resolve(result.data);
  }

  function failPending(reason: string): void {
    const all = [...pending.values()];
    pending.clear();
    for (const p of all) p.reject(new ApiError('disconnected', reason));
  }

  const bridge: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(methods)) {
    bridge[spec.handler] = (params?: unknown) => call(name as MethodName, params);
  }
  bridge.on = (event: EventName, listener: (payload: never) => void): (() => void) => {
    if (!isEventName(event)) throw new ApiError('bad_envelope', `Unknown event "${String(event)}".`);
    if (typeof listener !== 'function') throw new ApiError('bad_envelope', 'The listener is not a function.');
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  };

  return {
    bridge: bridge as unknown as PerpetuaClientBridge,
    receive,
    failPending,
    emit: (event, payload) => dispatchEvent(event, payload),
    get pendingCount() {
      return pending.size;
    },
  };
}
