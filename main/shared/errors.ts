/**
 * Errors that reach the user as one sentence. Every one carries a stable `code` that code (the CLI, the
 * renderer) switches on; the message is for people and may change.
 */
export const ERROR_CODES = [
  /** The input makes no sense: a bad policy, an empty prompt, a value out of range. */
  'invalid_input',
  /** The thing asked for does not exist (any more): a session, a model, a message, an A/B run. */
  'not_found',
  /** The session is already doing something (answering, switching policy, opening, an A/B run). */
  'busy',
  /** The request came too late: the session moved on since (e.g. continuing from an old A/B run). */
  'stale',
  /** A name that must be unique is taken. */
  'name_taken',
  /** The model folder cannot be used (missing files, an unsupported graph, a tokenizer that does not fit). */
  'model_unusable',
  /** A chat's model folder is gone (deleted or moved): the chat reads but does not run until it is located or moved to another model. */
  'model_missing',
  /** A GGUF file (llama.cpp) was offered; Perpetua runs ONNX models. */
  'gguf_unsupported',
  /** A Hugging Face checkpoint (safetensors) was offered: it must be converted first. */
  'needs_conversion',
  /** A KV snapshot does not fit (other model, policy or version, damaged); the session is rebuilt from its transcript. */
  'snapshot_mismatch',
  /** The database file cannot be opened or used. */
  'database_unusable',
  /** The database, its folder or its disk cannot be written (read-only, immutable). */
  'database_read_only',
  /** SQLite found damaged pages: nothing is written; `perpetua export` reads every message it still can. */
  'database_damaged',
  /** Another Perpetua process has the session open (one writer per session across processes). */
  'session_locked',
  /** A take-over of a chat was refused: the process holding it still runs on this computer. */
  'session_holder_running',
  /** The database was written by a newer version of Perpetua. */
  'database_too_new',
  /** A native module (better-sqlite3) is missing or was built for another runtime. */
  'native_module_unusable',
  /** A dense cache holds the model's whole context: no more tokens fit. */
  'context_full',
  /** The work was stopped on request. */
  'cancelled',
  /** Downloads (main/models): a gated or private repo without a good token. */
  'hub_auth',
  /** Downloads: the Hub kept answering 429/5xx past the retries. */
  'hub_unavailable',
  /** Downloads: the Hub could not be reached, or answered something unusable. */
  'network',
  /** Downloads: a body ended before its length, more often than the retries allow. */
  'truncated',
  /** Downloads: the bytes do not hash to what the Hub announced. */
  'checksum_mismatch',
  /** Not enough free disk for what is left to write. */
  'disk_full',
  /** Downloads: the repo has no ONNX graph of the asked variant. */
  'variant_not_found',
  /** The folder or entry it would create is taken by something else. */
  'already_exists',
  /** The sink inspector cannot read a graph's attention (fused attention operators never hold it as a tensor). */
  'attention_unavailable',
  /** A conversations file to import cannot be read as one (too large, not UTF-8, not JSON, another format); nothing was imported. */
  'import_unreadable',
  /** Anything else that failed; the message says what. */
  'failed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class PerpetuaError extends Error {
  /** Subclasses name their kind of failure by overriding this. */
  readonly code: ErrorCode;

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'failed';
  }
}

/** The stable code of any thrown value: a PerpetuaError's own, `cancelled` for an abort, else `failed`. */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof PerpetuaError) return err.code;
  if ((err as Error)?.name === 'AbortError') return 'cancelled';
  return 'failed';
}
