/**
 * Text from a model or a database shown in a terminal. Control characters would be obeyed, not shown: an
 * ESC or OSC sequence in a stored message could retitle the window, move the cursor or hide what follows,
 * a BEL rings, a CR overwrites the line, a bidi override reorders it. Each becomes one visible U+FFFD;
 * line breaks and tabs stay.
 */
const CONTROLS = /\r\n|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(CONTROLS, (c) => (c === '\r\n' ? '\n' : '\uFFFD'));
}
