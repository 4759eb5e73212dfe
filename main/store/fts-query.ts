import { toWellFormed } from './text.js';

/**
 * What a user typed, split for the two search paths (search.ts). FTS5's trigram tokenizer indexes every run of
 * three characters, so a word of 3+ characters is a substring query on the index; a word of 1–2 characters
 * (常见 in Chinese: 窗, 流式) has no trigram and is checked with LIKE over the rows instead.
 */
export interface SearchQuery {
  /** every word, in the order typed (the snippet highlights them all) */
  readonly words: readonly string[];
  /** FTS5 MATCH expression over the words of 3+ characters; null when there are none */
  readonly match: string | null;
  /** LIKE patterns (escaped with '\') for the words of 1–2 characters */
  readonly likes: readonly string[];
}

/** Shortest word the trigram index can answer; counted in characters (code points), as the tokenizer does. */
export const TRIGRAM = 3;

/**
 * Turns what a user typed into a SearchQuery, or null when there is nothing to search.
 *
 * Words are split at whitespace. Each long word becomes a quoted FTS5 string (inner quotes doubled), so FTS5 syntax
 * in the input (quotes, AND/OR/NOT/NEAR, parentheses, column filters, '*', '^', '-') is searched for as text and
 * never parsed as an operator: the query cannot throw. All words must match (implicit AND). A quoted string is a
 * phrase of consecutive trigrams, i.e. the word as a substring anywhere, so no prefix '*' is needed to search as
 * you type.
 */
export function toSearchQuery(input: string): SearchQuery | null {
  const words = toWellFormed(input).replace(/\0/g, ' ').split(/\s+/u).filter((w) => w.length > 0);
  if (words.length === 0) return null;
  const long = words.filter((w) => [...w].length >= TRIGRAM);
  const short = words.filter((w) => [...w].length < TRIGRAM);
  return {
    words,
    match: long.length > 0 ? long.map((w) => `"${w.replace(/"/g, '""')}"`).join(' ') : null,
    likes: short.map((w) => `%${w.replace(/[\\%_]/g, (c) => `\\${c}`)}%`),
  };
}
