/**
 * Dispatches wire envelopes to a `PerpetuaApi` implementation, validating both ways. Transport-agnostic:
 * the Electron MessagePort (core process), the WebSocket web test host and tests all feed `handle()` and
 * give `send()` a way out.
 *
 *   request { id, method, params } → call:    impl[handler](params)          → { id, result } | { id, error }
 *                                  → channel: impl[handler](params, signal)  → { id, packet }… (last one final)
 *   cancel  { cancel: id }         → aborts that channel's signal
 *   impl events (subscribe)        → validated → { event, payload }
 */
import { ApiError, describeZodError } from '../api/api-error.js';
import { CancelEnvelopeSchema, RequestEnvelopeSchema, type ApiErrorCode, type OutgoingEnvelope, type RequestId } from '../api/envelope.js';
import { events, isMethodName, methods, type CallName, type MethodName, type ParamsOf, type ResultOf } from '../api/methods.js';
import { isFinalPacket } from '../api/packets.js';
import type { PerpetuaApi, PerpetuaEvent } from '../api/perpetua-api.js';
import { errorCode } from '../shared/errors.js';

export interface ApiRouter {
  /** Handle one incoming message (a request or cancel envelope); answers go out through `send`. */
  handle(message: unknown): Promise<void>;
  /** Validated call without an envelope (in-process use); rejects with ApiError. */
  call<M extends CallName>(method: M, params?: ParamsOf<M>): Promise<ResultOf<M>>;
  /** Stop forwarding events and cancel the open channels (the connection closed). */
  dispose(): void;
}

export interface ApiRouterOptions {
  /** Malformed traffic and dropped events are reported here (default: console.warn). */
  onProtocolError?(message: string): void;
}

export function createApiRouter(api: PerpetuaApi, send: (message: OutgoingEnvelope) => void, options: ApiRouterOptions = {}): ApiRouter {
  const report = options.onProtocolError ?? ((m: string) => console.warn(`[api-router] ${m}`));
  let disposed = false;
  const channels = new Map<RequestId, AbortController>();

  const unsubscribe = api.subscribe((e: PerpetuaEvent) => {
    if (disposed) return;
    const schema = typeof e === 'object' && e !== null ? events[e.event as keyof typeof events] : undefined;
    if (!schema) {
      report(`Dropped unknown event "${String((e as { event?: unknown })?.event)}".`);
      return;
    }
    const parsed = schema.safeParse(e.payload);
    if (!parsed.success) {
      report(`Dropped ${describeZodError(parsed.error, `${e.event} event`)}`);
      return;
    }
    safeSend({ event: e.event, payload: parsed.data });
  });

  function safeSend(message: OutgoingEnvelope): void {
    if (disposed) return;
    try {
      send(message);
    } catch (err) {
      report(`Could not send: ${(err as Error).message}`);
    }
  }

  /** The implementation's function for `method`, with its params validated. */
  function resolve(method: MethodName, params: unknown): { fn: (...args: unknown[]) => unknown; params: unknown } {
    if (!isMethodName(method)) {
      throw new ApiError('unknown_method', `Unknown method "${String(method)}". Known methods: ${Object.keys(methods).join(', ')}.`);
    }
    const spec = methods[method];
    const p = spec.params.safeParse(params);
    if (!p.success) throw new ApiError('invalid_params', describeZodError(p.error, `${method} params`));
    const fn = (api as unknown as Record<string, unknown>)[spec.handler];
    if (typeof fn !== 'function') throw new ApiError('unknown_method', `The core does not implement "${method}".`);
    return { fn: (...args) => (fn as (...a: unknown[]) => unknown).apply(api, args), params: p.data };
  }

  async function call<M extends CallName>(method: M, params?: unknown): Promise<ResultOf<M>> {
    const { fn, params: valid } = resolve(method, params);
    if (methods[method].kind !== 'call') throw new ApiError('unknown_method', `"${method}" is a channel, not a call.`);
    let raw: unknown;
    try {
      raw = await fn(valid);
    } catch (err) {
      throw asApiError(err);
    }
    const r = methods[method].result.safeParse(raw);
    if (!r.success) throw new ApiError('invalid_result', describeZodError(r.error, `${method} result`));
    return r.data as ResultOf<M>;
  }

  /** Streams a channel's packets; a refusal before the first packet is answered as an error response. */
  async function stream(id: RequestId, method: MethodName, params: unknown): Promise<void> {
    const spec = methods[method];
    if (spec.kind !== 'channel') return;
    const { fn, params: valid } = resolve(method, params);
    const abort = new AbortController();
    channels.set(id, abort);
    let sent = 0;
    try {
      for await (const raw of fn(valid, abort.signal) as AsyncIterable<unknown>) {
        const packet = spec.packet.safeParse(raw);
        if (!packet.success) throw new ApiError('invalid_result', describeZodError(packet.error, `${method} packet`));
        safeSend({ id, packet: packet.data });
        sent++;
        if (isFinalPacket(packet.data)) return;
      }
      if (sent) safeSend({ id, packet: { type: 'failed', error: { code: 'failed', message: 'The work ended without a final answer.' } } });
    } catch (err) {
      const e = asApiError(err);
      if (!sent) throw e;
      safeSend({ id, packet: { type: 'failed', error: { code: e.code, message: e.message } } });
    } finally {
      channels.delete(id);
    }
  }

  async function handle(message: unknown): Promise<void> {
    const cancel = CancelEnvelopeSchema.safeParse(message);
    if (cancel.success) {
      channels.get(cancel.data.cancel)?.abort();
      return;
    }
    const env = RequestEnvelopeSchema.safeParse(message);
    if (!env.success) {
      const id = extractId(message);
      const msg = describeZodError(env.error, 'request envelope');
      if (id === undefined) report(msg);
      else replyError(id, 'bad_envelope', msg);
      return;
    }
    const { id, method, params } = env.data;
    try {
      if (isMethodName(method) && methods[method].kind === 'channel') {
        await stream(id, method, params);
        return;
      }
      const result = await call(method as CallName, params);
      safeSend({ id, result: result === undefined ? null : result });
    } catch (err) {
      const e = err as ApiError;
      replyError(id, e.code ?? 'failed', e.message, e.remoteName);
    }
  }

  function replyError(id: RequestId, code: ApiErrorCode, message: string, name?: string): void {
    safeSend({ id, error: name ? { code, message, name } : { code, message } });
  }

  return {
    handle,
    call: call as ApiRouter['call'],
    dispose() {
      if (disposed) return;
      disposed = true;
      unsubscribe();
      for (const c of channels.values()) c.abort();
    },
  };
}

function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  return new ApiError(errorCode(e), e.message || e.name || 'The operation failed.', e.name);
}

function extractId(message: unknown): RequestId | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const id = (message as { id?: unknown }).id;
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0) return id;
  if (typeof id === 'string' && id.length > 0 && id.length <= 100) return id;
  return undefined;
}
