import { PerpetuaError } from '../shared/errors.js';

/** A wrong command line: printed as one sentence with a pointer to --help. */
export class UsageError extends PerpetuaError {
  override readonly code = 'invalid_input';
}
