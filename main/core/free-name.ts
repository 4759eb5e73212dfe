import { MAX_NAME_CHARS } from '../api/limits.js';
import { PerpetuaError } from '../shared/errors.js';
import type { Store } from '../store/store.js';

/**
 * The first name no chat has among `name` + suffix(1), `name` + suffix(2), … (default: "Name", "Name (2)", …), the
 * name shortened to leave room for the suffix (names are at most MAX_NAME_CHARS characters).
 */
export function freeSessionName(store: Store, name: string, suffix: (n: number) => string = (n) => (n === 1 ? '' : ` (${n})`)): string {
  for (let n = 1; n < 1000; n++) {
    const end = suffix(n);
    const head = name.slice(0, MAX_NAME_CHARS - end.length);
    const candidate = `${/[\uD800-\uDBFF]$/.test(head) ? head.slice(0, -1) : head}${end}`; // never half a character
    if (!store.getSessionByName(candidate)) return candidate;
  }
  throw new PerpetuaError(`Too many chats are named "${name.slice(0, 60)}"; rename some first.`, { code: 'name_taken' });
}
