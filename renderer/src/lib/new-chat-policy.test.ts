import { describe, expect, it } from 'vitest';
import { newChatPolicy } from './new-chat-policy.js';

const builtin = { maxPositions: 512, defaultPolicy: { name: 'sink', sink: 4, window: 508, pinSystem: false } } as const;

describe('newChatPolicy', () => {
  it('is the model’s fitting policy when no default is set', () => {
    expect(newChatPolicy(null, builtin)).toEqual(builtin.defaultPolicy);
  });

  it('keeps the default where it fits the model’s context', () => {
    expect(newChatPolicy({ name: 'window', sink: 0, window: 300, pinSystem: false }, builtin)).toEqual({ name: 'window', sink: 0, window: 300, pinSystem: false });
  });

  it('cuts a window the model’s context cannot hold, after the sinks', () => {
    expect(newChatPolicy({ name: 'sink', sink: 8, window: 2040, pinSystem: true }, builtin)).toEqual({ name: 'sink', sink: 8, window: 504, pinSystem: true });
    expect(newChatPolicy({ name: 'window', sink: 4, window: 2040, pinSystem: false }, builtin)).toMatchObject({ window: 512 });
  });

  it('keeps the default as it is for a model whose context is unknown', () => {
    const p = { name: 'sink', sink: 4, window: 4000, pinSystem: false } as const;
    expect(newChatPolicy(p, { maxPositions: undefined, defaultPolicy: undefined })).toEqual(p);
  });
});
