import { readFileSync } from 'node:fs';
import { MAX_MESSAGE_BYTES } from '../api/limits.js';
import { unreadableReason } from '../shared/regular-file.js';
import { UsageError } from './usage-error.js';

/** The UTF-8 text of a file named on the command line (a prompt), refused with one sentence if unusable. */
export function readTextFile(file: string, flag: string): string {
  const reason = unreadableReason(file, MAX_MESSAGE_BYTES);
  if (reason) throw new UsageError(`The file given to --${flag} (${file}) ${reason}.`);
  return readFileSync(file, 'utf8');
}
