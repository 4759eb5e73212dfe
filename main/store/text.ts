/**
 * Text normalisation for storage.
 *
 * SQLite stores TEXT as UTF-8, which cannot represent a lone UTF-16 surrogate. Left alone, the
 * driver encodes one as 3 bytes that read back as *three* U+FFFD, so the stored text would neither
 * equal the input nor keep its length. We replace each lone surrogate with exactly one U+FFFD before
 * writing, which is what `String.prototype.toWellFormed()` does: storing `t` and reading it back
 * yields `toWellFormed(t)`, and well-formed text (everything a tokenizer's UTF-8 decoder produces,
 * invalid bytes included, since `Buffer.toString('utf8')` already maps those to U+FFFD) round-trips
 * exactly. Nothing here throws.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

type WellFormedString = string & { isWellFormed?: () => boolean; toWellFormed?: () => string };

export function toWellFormed(text: string): string {
  const s = text as WellFormedString;
  // Native on Node >= 20 (V8 11); the lib target (ES2023) does not declare it, hence the probe.
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** True when `text` ends with a high surrogate whose low half has not arrived yet. */
export function endsWithHighSurrogate(text: string): boolean {
  if (text.length === 0) return false;
  const last = text.charCodeAt(text.length - 1);
  return last >= 0xd800 && last <= 0xdbff;
}

/** C0 and C1 control characters (NUL, ESC, CR, LF, tab, DEL…): a name holding one cannot be shown safely. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** True for a name that lists and terminals can show: not blank, no control characters. */
export function isShowableName(name: string): boolean {
  return name.trim() !== '' && !CONTROL.test(name);
}
