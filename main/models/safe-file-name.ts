/**
 * File names a Hub repo lists are untrusted: a download writes them into the models folder, on every system the app
 * runs on. A name is kept only if it means the same relative path, inside the folder, under both POSIX and Windows
 * rules: `/`-separated parts, none empty, `.` or `..`; no backslash (a separator on Windows), colon (a drive letter
 * or an NTFS stream), control character or `<>"|?*`; no part a Windows device name (CON, NUL, COM1…, any
 * extension) or ending in a dot or space (Windows drops them, so two names would meet). A set of names must also stay
 * apart when case is ignored (Windows and macOS folders).
 */
import { posix, win32 } from 'node:path';
import { DownloadError } from './download-error.js';

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\\:<>"|?*\u0000-\u001f\u007f]/;
const MAX_PART = 255;
const MAX_PATH = 400;

/** Why `name` cannot be written as a file inside a folder, or null when it can. */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_PATH) return `it is longer than ${MAX_PATH} characters`;
  if (name.startsWith('/')) return 'it is an absolute path';
  const bad = FORBIDDEN.exec(name);
  if (bad) return `it holds ${bad[0] === '\\' ? 'a backslash' : bad[0] === ':' ? 'a colon (a drive letter or a stream on Windows)' : `the character ${JSON.stringify(bad[0])}`}`;
  for (const part of name.split('/')) {
    if (part === '' || part === '.' || part === '..') return `it has a "${part || '//'}" part`;
    if (part.length > MAX_PART) return `one of its parts is longer than ${MAX_PART} characters`;
    if (RESERVED.test(part)) return `"${part}" is a device name on Windows`;
    if (/[. ]$/.test(part)) return `"${part}" ends in a dot or a space, which Windows drops`;
  }
  // the last word: joined under either system's rules, the path stays inside the folder
  for (const p of [posix, win32]) {
    const rel = p.relative(p.resolve('/models/x'), p.resolve('/models/x', name));
    if (rel === '' || rel.startsWith('..') || p.isAbsolute(rel)) return 'it leads outside the model folder';
  }
  return null;
}

/** Throws the user's sentence for the first name of a download that cannot be written safely, or a case collision. */
export function checkFileNames(repo: string, names: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const name of names) {
    const reason = unsafeNameReason(name);
    if (reason) throw new DownloadError('network', `${repo} lists a file named ${JSON.stringify(name.slice(0, 120))}, which Perpetua will not write: ${reason}.`);
    const key = name.normalize('NFC').toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) {
      throw new DownloadError('network', `${repo} lists both ${JSON.stringify(other)} and ${JSON.stringify(name)}, which are one file on Windows and macOS.`);
    }
    seen.set(key, name);
  }
}
