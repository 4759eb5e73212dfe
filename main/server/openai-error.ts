/**
 * Errors in OpenAI's shape, `{ error: { message, type, param, code } }`, with the HTTP status its clients expect:
 * the openai packages turn 400/401/404/409/429 into their typed errors (BadRequestError, …) from the status alone.
 * Core failures arrive as stable codes (main/shared/errors.ts) and are mapped here by code, never by message text.
 */
import type { ApiErrorCode } from '../api/envelope.js';

export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'conflict_error' | 'rate_limit_error' | 'server_error';

export class OpenAiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAiErrorType,
    /** OpenAI's machine-readable code (e.g. "model_not_found"), or the core's */
    readonly code: string | null = null,
    /** the request field at fault */
    readonly param: string | null = null,
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A refusal of the request as sent (400), naming the field. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): OpenAiError {
  return new OpenAiError(400, message, 'invalid_request_error', code, param);
}

/** HTTP status and type per core error code; what is not listed is the server's fault (500). */
const BY_CODE: Partial<Record<ApiErrorCode, [number, OpenAiErrorType]>> = {
  invalid_input: [400, 'invalid_request_error'],
  invalid_params: [400, 'invalid_request_error'],
  context_full: [400, 'invalid_request_error'],
  not_found: [404, 'not_found_error'],
  // the chat is answering another request (or another process holds it): try again when it is done
  busy: [409, 'conflict_error'],
  session_locked: [409, 'conflict_error'],
  session_holder_running: [409, 'conflict_error'],
  name_taken: [409, 'conflict_error'],
  model_unusable: [422, 'invalid_request_error'],
  needs_conversion: [422, 'invalid_request_error'],
  gguf_unsupported: [422, 'invalid_request_error'],
  snapshot_mismatch: [500, 'server_error'],
  database_too_new: [503, 'server_error'],
  database_read_only: [503, 'server_error'],
  disk_full: [507, 'server_error'],
  disconnected: [503, 'server_error'],
};

/** A core error (ApiError or anything with a code) as the OpenAI error a client reads. */
export function fromCoreError(err: unknown, param: string | null = null): OpenAiError {
  if (err instanceof OpenAiError) return err;
  const code = ((err as { code?: unknown })?.code ?? 'failed') as ApiErrorCode;
  const message = (err as Error)?.message || 'The request failed.';
  const [status, type] = BY_CODE[code] ?? [500, 'server_error'];
  const openAiCode = code === 'context_full' ? 'context_length_exceeded' : code;
  return new OpenAiError(status, message, type, openAiCode, param);
}
