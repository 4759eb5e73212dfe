import { describe, expect, it } from 'vitest';
import { copiedText } from './copied-text.js';

describe('copiedText', () => {
  it('drops leading blank lines and trailing white space, keeps the first line indentation', () => {
    expect(copiedText('\n to the\ncurround, and')).toBe(' to the\ncurround, and');
    expect(copiedText(' \r\n\n    code()\n  ')).toBe('    code()');
    expect(copiedText('plain')).toBe('plain');
  });
});
