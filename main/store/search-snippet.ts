import { SNIPPET_MARK_END, SNIPPET_MARK_START } from './types.js';

/** Characters of context kept around the first match of a snippet. */
const CONTEXT_BEFORE = 24;
const SNIPPET_CHARS = 96;

/**
 * The text folded the way the search index folds it (case and diacritics: "Café" → "cafe"), with where each
 * folded UTF-16 unit came from, so a match found in the folded text maps back to the original characters.
 */
interface Folded {
  text: string;
  /** for each folded unit: the start and end (exclusive) of the original code point it came from */
  from: number[];
  to: number[];
}

function fold(text: string): Folded {
  let out = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const ch of text) {
    const f = foldChar(ch);
    out += f;
    for (let k = 0; k < f.length; k++) {
      from.push(i);
      to.push(i + ch.length);
    }
    i += ch.length;
  }
  return { text: out, from, to };
}

function foldChar(ch: string): string {
  return ch.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase() || ch;
}

/** Where each word occurs in `text` (UTF-16 ranges, merged where they touch or overlap), in text order. */
export function matchRanges(text: string, words: readonly string[]): [number, number][] {
  const f = fold(text);
  const ranges: [number, number][] = [];
  for (const word of words) {
    const needle = fold(word).text;
    if (!needle) continue;
    for (let at = f.text.indexOf(needle); at >= 0; at = f.text.indexOf(needle, at + 1)) {
      ranges.push([f.from[at]!, f.to[at + needle.length - 1]!]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/**
 * A short excerpt of `text` around its first match, every match inside wrapped in SNIPPET_MARK_START/END and cuts
 * marked with '…'. Done here rather than with FTS5's snippet(): both search paths (index and LIKE) get the same
 * excerpts, and trigram "tokens" would make snippet()'s length a handful of characters.
 */
export function searchSnippet(text: string, words: readonly string[], width = SNIPPET_CHARS): string {
  const ranges = matchRanges(text, words);
  let start = ranges.length > 0 ? Math.max(0, ranges[0]![0] - CONTEXT_BEFORE) : 0;
  let end = Math.min(text.length, start + width);
  if (end === text.length) start = Math.max(0, end - width);
  // never cut a surrogate pair in half
  if (start > 0 && isLowSurrogate(text.charCodeAt(start))) start--;
  if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end++;
  let out = start > 0 ? '…' : '';
  let at = start;
  for (const [a, b] of ranges) {
    if (b <= start || a >= end) continue;
    const s = Math.max(a, start);
    const e = Math.min(b, end);
    out += text.slice(at, s) + SNIPPET_MARK_START + text.slice(s, e) + SNIPPET_MARK_END;
    at = e;
  }
  out += text.slice(at, end) + (end < text.length ? '…' : '');
  // one line: a list shows a snippet on one row
  return out.replace(/\s+/gu, ' ');
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
