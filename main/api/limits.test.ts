import { describe, expect, it } from 'vitest';
import { formatBytes, MAX_MESSAGE_BYTES, messageTooLargeError, utf8ByteLength } from './limits.js';

describe('limits', () => {
  it('counts UTF-8 bytes like TextEncoder', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€é', '\ud800x']) {
      expect(utf8ByteLength(s)).toBe(new TextEncoder().encode(s).length);
    }
  });
  it('formats sizes', () => {
    expect(formatBytes(10 * 1024 * 1024)).toBe('10 MB');
    expect(formatBytes(1536)).toBe('1.5 KB');
  });
  it('accepts up to the limit and explains when over', () => {
    expect(messageTooLargeError('x'.repeat(MAX_MESSAGE_BYTES))).toBeNull();
    expect(messageTooLargeError('x'.repeat(MAX_MESSAGE_BYTES + 1))).toMatch(/^The message is larger than 10 MB \(10 MB, 10,485,761 bytes\)/);
    expect(messageTooLargeError('é'.repeat(MAX_MESSAGE_BYTES / 2 + 1))).toMatch(/larger than 10 MB/);
  });
});
