/**
 * A chat's name from its first message (a chat that kept the name the new-chat dialog proposed): the first line,
 * white space collapsed and control characters left out (names refuse them), cut at a word near 48 characters.
 */
export function titleOf(text: string): string {
  const line = (text.trim().split('\n')[0] ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim();
  if (line.length <= 48) return line;
  const cut = line.slice(0, 48);
  const space = cut.lastIndexOf(' ');
  return `${(space > 20 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
