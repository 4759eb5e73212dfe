/**
 * A decimal number as a person types it in any locale: "0.7" and "0,7" (comma-decimal locales) are both 0.7. A text
 * with both separators or several of one ("1.000,5", "1,000.5", "0,7,1") is ambiguous and refused, never guessed:
 * taken as grouping, "0,7" would be 7. Returns the number, null for an empty field, or NaN for anything else.
 */
export function parseDecimal(text: string): number | null {
  const t = text.trim().replace(/^\+/, '');
  if (t === '') return null;
  if (!/^-?(\d+([.,]\d*)?|[.,]\d+)$/.test(t)) return Number.NaN;
  const n = Number(t.replace(',', '.'));
  return Number.isFinite(n) ? n : Number.NaN;
}

/** Whether a text looks like a comma-decimal number ("0,7"), to say so when it is refused where only a point is read. */
export function isCommaDecimal(text: string): boolean {
  return /^[+-]?\d*,\d+$/.test(text.trim());
}
