import { toWellFormed } from './text.js';

/**
 * Turns what a user typed into a safe FTS5 MATCH expression, or null when there is nothing to search.
 *
 * Every whitespace-separated word becomes a quoted string (inner quotes doubled), so FTS5 syntax in
 * the input (quotes, AND/OR/NOT/NEAR, parentheses, column filters, '*', '^', '-') is searched for as
 * text and never parsed as an operator: the query cannot throw. Words must all match (implicit AND);
 * the last word also matches as a prefix, so results follow the user while they type.
 */
export function toFtsQuery(input: string): string | null {
  const words = toWellFormed(input).replace(/\0/g, ' ').split(/\s+/u).filter((w) => w.length > 0);
  if (words.length === 0) return null;
  return words.map((w, i) => `"${w.replace(/"/g, '""')}"${i === words.length - 1 ? '*' : ''}`).join(' ');
}
