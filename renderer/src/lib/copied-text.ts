/**
 * A message as Copy puts it on the clipboard: what the chat shows. Models often begin an answer with a line break
 * (the Markdown view hides it) and end it with spaces; a paste should not start with an empty line. Indentation of
 * the first line (code) stays.
 */
export function copiedText(text: string): string {
  return text.replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
}
