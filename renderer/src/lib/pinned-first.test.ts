import { describe, expect, it } from 'vitest';
import type { Session } from './api.js';
import { pinnedFirst } from './pinned-first.js';

const chat = (id: string, pinned?: boolean): Session => ({
  id, name: id, modelId: 'm', policy: { name: 'sink', sink: 4, window: 508, pinSystem: false }, systemPrompt: null, createdAt: 0, updatedAt: 0, messageCount: 0, ...(pinned ? { pinned } : {}),
});

describe('pinnedFirst', () => {
  it('lists pinned chats first and keeps each group’s order', () => {
    const list = [chat('a'), chat('b', true), chat('c'), chat('d', true)];
    expect(pinnedFirst(list).map((s) => s.id)).toEqual(['b', 'd', 'a', 'c']);
    expect(pinnedFirst([chat('a'), chat('c')]).map((s) => s.id)).toEqual(['a', 'c']);
  });
});
