/** Limits shared by every side of the API (renderer, preload, core, web host). */

/** Largest message text (UTF-8 bytes) that chat.send accepts: a book-sized paste. */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** Largest system prompt (UTF-8 bytes). */
export const MAX_SYSTEM_PROMPT_BYTES = MAX_MESSAGE_BYTES;

/** Longest session or model name (characters). */
export const MAX_NAME_CHARS = 200;

/** Longest search query (characters). */
export const MAX_SEARCH_CHARS = 1000;

/** Largest page of messages one request may ask for. */
export const MAX_PAGE_LIMIT = 1000;

/** Default number of most recent messages returned by sessions.open. */
export const DEFAULT_OPEN_LIMIT = 200;

/** UTF-8 byte length of a string without allocating (works in browsers, preload and Node). */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Human size, e.g. "10 MB", "12.3 MB", "512 KB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${trim(n / 1024)} KB`;
  if (n < 1024 * 1024 * 1024) return `${trim(n / (1024 * 1024))} MB`;
  return `${trim(n / (1024 * 1024 * 1024))} GB`;
}

function trim(x: number): string {
  return x >= 100 ? Math.round(x).toString() : (Math.round(x * 10) / 10).toString();
}

/** The sentence shown when a message is too large; null when it fits. */
export function messageTooLargeError(text: string, limit = MAX_MESSAGE_BYTES): string | null {
  // Fast path: every UTF-16 unit is at most three UTF-8 bytes.
  if (text.length * 3 <= limit) return null;
  const bytes = utf8ByteLength(text);
  if (bytes <= limit) return null;
  return `The message is larger than ${formatBytes(limit)} (${formatBytes(bytes)}, ${bytes.toLocaleString('en-US')} bytes). Split it into smaller parts.`;
}
