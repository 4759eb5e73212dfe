import type { ApiErrorCode } from './envelope.js';
import type { z } from 'zod';

/** An API call failed; `message` is a sentence for the user, `code` says which kind of failure. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** Error class name on the core side, when the implementation threw. */
    readonly remoteName?: string,
  ) {
    super(message);
  }
}

/** One sentence out of a zod error: "text: The message is 12 MB; the limit is 10 MB." */
export function describeZodError(err: z.ZodError, what: string): string {
  const parts = err.issues.slice(0, 3).map((i) => {
    const path = i.path.length ? `${i.path.join('.')}: ` : '';
    return `${path}${i.message}`;
  });
  const more = err.issues.length > 3 ? ` (and ${err.issues.length - 3} more)` : '';
  return `Invalid ${what}: ${parts.join('; ')}${more}`;
}
