import { PerpetuaError } from '../shared/errors.js';

/** What went wrong with a download; code branches on these, never on the message. */
export type DownloadErrorCode =
  /** 401/403: a gated or private repo without a (good) token. */
  | 'hub_auth'
  /** 404: no such repo, revision or file. */
  | 'not_found'
  /** 429/5xx that outlasted the retries. */
  | 'hub_unavailable'
  /** The Hub could not be reached, or answered something this client cannot use. */
  | 'network'
  /** A body ended before its length, more often than the retries allow. */
  | 'truncated'
  /** The bytes do not hash to what the Hub announced. */
  | 'checksum_mismatch'
  /** Not enough free disk for what is left to fetch. */
  | 'disk_full'
  /** Stopped by its caller (pause or cancel); what was fetched so far stays for a resume. */
  | 'cancelled'
  /** The repo has no ONNX graph of the asked variant (or none at all). */
  | 'variant_not_found'
  /** The model folder it would create is taken by something else. */
  | 'already_exists';

/** A download failed; `message` is one sentence for the user that says what to do next. */
export class DownloadError extends PerpetuaError {
  constructor(
    override readonly code: DownloadErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, code });
  }
}
