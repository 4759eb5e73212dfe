import { describe, expect, it } from 'vitest';
import { abProposal } from './ab-proposal.js';

describe('abProposal', () => {
  it('compares the chat as it runs with the other bounded policy of the same budget', () => {
    expect(abProposal({ name: 'sink', sink: 4, window: 508, pinSystem: false }, 512)).toEqual({
      a: { name: 'sink', sink: 4, window: 508, pinSystem: false },
      b: { name: 'window', sink: 0, window: 512, pinSystem: false },
    });
    expect(abProposal({ name: 'window', sink: 0, window: 64, pinSystem: false }, 2048)).toEqual({
      a: { name: 'window', sink: 0, window: 64, pinSystem: false },
      b: { name: 'sink', sink: 4, window: 60, pinSystem: false },
    });
  });

  it('keeps both inside the model context', () => {
    const { a, b } = abProposal({ name: 'sink', sink: 4, window: 1020, pinSystem: true }, 512);
    expect(a).toEqual({ name: 'sink', sink: 4, window: 508, pinSystem: true });
    expect(b).toEqual({ name: 'window', sink: 0, window: 512, pinSystem: false });
    expect(abProposal({ name: 'dense', sink: 0, window: 1024, pinSystem: false }, 512).b).toEqual({ name: 'sink', sink: 4, window: 508, pinSystem: false });
  });
});
