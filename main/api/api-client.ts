/**
 * The client half of the wire: turns method calls into validated request envelopes, validated responses into
 * promises, channel packets into listener calls, and events into `on()` listeners. Used by the preload (over
 * the core's MessagePort) and by the web test host's `window.perpetua` shim (over a WebSocket).
 */
import { ApiError, describeZodError } from './api-error.js';
import { isEventEnvelope, ResponseEnvelopeSchema, type ClientEnvelope } from './envelope.js';
import { events, isEventName, methods, type EventName, type EventOf, type MethodName } from './methods.js';
import { isFinalPacket } from './packets.js';
import type { Channel, PerpetuaClientBridge } from './perpetua-api.js';

export interface ApiClient {
  /** The object to expose as `window.perpetua`. */
  readonly bridge: PerpetuaClientBridge;
  /** Feed every message that arrives from the core. */
  receive(message: unknown): void;
  /** Reject every pending call and channel (the transport went away). */
  failPending(reason: string): void;
  /** Deliver an event produced on this side (e.g. coreRestarted from the shell), validated like the rest. */
  emit<K extends EventName>(event: K, payload: EventOf<K>): void;
  /** Number of calls and channels waiting for an answer. */
  readonly pendingCount: number;
}

export interface ApiClientOptions {
  /** Sends one envelope to the core (structured-clone or JSON, the transport decides). */
  send(envelope: ClientEnvelope): void;
  /** Reports malformed traffic from the core (defaults to console.warn). */
  onProtocolError?(message: string): void;
}

interface Pending {
  method: MethodName;
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** channels only: receives every packet */
  onPacket?: (packet: unknown) => void;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  const protocolError = opts.onProtocolError ?? ((m: string) => console.warn(`[perpetua] ${m}`));

  /** Sends a validated request; `entry` gets the answer. Returns the request id (0 when refused here). */
  function request(method: MethodName, params: unknown, entry: Pending): number {
    const parsed = methods[method].params.safeParse(params);
    if (!parsed.success) {
      entry.reject(new ApiError('invalid_params', describeZodError(parsed.error, `${method} params`)));
      return 0;
    }
    const id = nextId++;
    pending.set(id, entry);
    try {
      opts.send({ id, method, params: parsed.data });
    } catch (err) {
      pending.delete(id);
      entry.reject(new ApiError('disconnected', `Could not reach the core: ${(err as Error).message}`));
    }
    return id;
  }

  function call(method: MethodName, params: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => request(method, params, { method, resolve, reject }));
  }

  function open(method: MethodName, params: unknown, onPacket: (packet: unknown) => void): Channel<unknown> {
    if (typeof onPacket !== 'function') throw new ApiError('bad_envelope', 'The packet listener is not a function.');
    let id = 0;
    const closed = new Promise((resolve, reject) => {
      id = request(method, params, { method, resolve, reject, onPacket });
    });
    return {
      cancel() {
        if (id && pending.has(id)) opts.send({ cancel: id });
      },
      closed,
    };
  }

  function dispatchEvent(name: EventName, payload: unknown): void {
    const parsed = events[name].safeParse(payload);
    if (!parsed.success) {
      protocolError(describeZodError(parsed.error, `${name} event`));
      return;
    }
    for (const l of [...(listeners.get(name) ?? [])]) {
      try {
        (l as (p: unknown) => void)(parsed.data);
      } catch (err) {
        protocolError(`A ${name} listener threw: ${(err as Error).message}`);
      }
    }
  }

  function receivePacket(id: number, p: Pending, raw: unknown): void {
    const spec = methods[p.method];
    if (spec.kind !== 'channel') {
      protocolError(`A packet for ${p.method}, which is not a channel.`);
      return;
    }
    const packet = spec.packet.safeParse(raw);
    if (!packet.success) {
      protocolError(describeZodError(packet.error, `${p.method} packet`));
      return;
    }
    try {
      p.onPacket?.(packet.data);
    } catch (err) {
      protocolError(`A ${p.method} packet listener threw: ${(err as Error).message}`);
    }
    if (isFinalPacket(packet.data)) {
      pending.delete(id);
      p.resolve(packet.data);
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
    if ('packet' in env.data) {
      receivePacket(id as number, p, env.data.packet);
      return;
    }
    pending.delete(id as number);
    if ('error' in env.data) {
      const e = env.data.error;
      p.reject(new ApiError(e.code, e.message, e.name));
      return;
    }
    const spec = methods[p.method];
    const result = spec.kind === 'call' ? spec.result.safeParse(env.data.result) : null;
    if (!result?.success) {
      p.reject(new ApiError('invalid_result', result ? describeZodError(result.error, `${p.method} result`) : `${p.method} answered with a result instead of packets.`));
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
    const method = name as MethodName;
    bridge[spec.handler] =
      spec.kind === 'channel'
        ? (params: unknown, onPacket: (packet: unknown) => void) => open(method, params, onPacket)
        : (params?: unknown) => call(method, params);
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
