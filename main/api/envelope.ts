/**
 * The wire envelopes, the same over every transport (Electron MessagePort, loopback WebSocket, tests):
 *   request  { id, method, params }           cancel { cancel: id }  (stops a channel)
 *   response { id, result } | { id, error: { code, message } }  (a call's answer, or a refusal)
 *   packet   { id, packet }                    (a channel's packets; the last one has type done | stopped | failed)
 *   event    { event, payload }
 */
import { z } from 'zod';
import { ERROR_CODES } from '../shared/errors.js';

export const RequestId = z.union([z.number().int().nonnegative(), z.string().min(1).max(100)]);
export type RequestId = z.infer<typeof RequestId>;

export const RequestEnvelopeSchema = z.object({
  id: RequestId,
  method: z.string().min(1).max(100),
  params: z.unknown().optional(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;

/** Stops the channel opened by request `cancel`. */
export const CancelEnvelopeSchema = z.object({ cancel: RequestId }).strict();
export type CancelEnvelope = z.infer<typeof CancelEnvelopeSchema>;

/** Everything a client sends. */
export type ClientEnvelope = RequestEnvelope | CancelEnvelope;

/** Failures of the wire itself; what the core's work fails with are the PerpetuaError codes (main/shared). */
export const TRANSPORT_ERROR_CODES = [
  /** The envelope itself is malformed. */
  'bad_envelope',
  /** No such method. */
  'unknown_method',
  /** Params failed validation (message says which field and why). */
  'invalid_params',
  /** The core answered something that fails the result schema (a bug in the core). */
  'invalid_result',
  /** The transport went away (core restarted, socket closed) before an answer came. */
  'disconnected',
] as const;
export const ApiErrorCodeSchema = z.enum([...TRANSPORT_ERROR_CODES, ...ERROR_CODES]);
export type ApiErrorCode = z.infer<typeof ApiErrorCodeSchema>;

export const ApiErrorPayloadSchema = z.object({
  code: ApiErrorCodeSchema,
  message: z.string(),
  /** Error class name on the core side, e.g. "ModelLoadError". */
  name: z.string().optional(),
});
export type ApiErrorPayload = z.infer<typeof ApiErrorPayloadSchema>;

export const ResponseEnvelopeSchema = z.union([
  z.object({ id: RequestId, result: z.unknown() }).strict(),
  z.object({ id: RequestId, error: ApiErrorPayloadSchema }).strict(),
  z.object({ id: RequestId, packet: z.unknown() }).strict(),
]);
export type ResponseEnvelope =
  | { id: RequestId; result: unknown }
  | { id: RequestId; error: ApiErrorPayload }
  | { id: RequestId; packet: unknown };

export const EventEnvelopeSchema = z.object({ event: z.string().min(1).max(100), payload: z.unknown() });
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

/** Everything the core side sends. */
export type OutgoingEnvelope = ResponseEnvelope | EventEnvelope;

export function isEventEnvelope(x: unknown): x is EventEnvelope {
  return typeof x === 'object' && x !== null && 'event' in x;
}
