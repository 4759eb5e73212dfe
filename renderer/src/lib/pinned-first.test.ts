import { describe, expect, it } from 'vitest';
import type { Session } from './api.js';
import { pinnedFirst } from './pinned-first.js';

const chat = (id: string, updatedAt: number, pinned?: boolean): Session => ({
  id, name: id, modelId: 'm', policy: { name: 'sink', sink: 4, window: 508, pinSystem: false }, systemPrompt: null, createdAt: 0, updatedAt, messageCount: 0, ...(pinned ? { pinned } : {}),
});

describe('pinnedFirst', () => {
  it('lists pinned chats first, each group most recently used first', () => {
    const list = [chat('a', 4), chat('b', 1, true), chat('c', 3), chat('d', 2, true)];
    expect(pinnedFirst(list).map((s) => s.id)).toEqual(['d', 'b', 'a', 'c']);
  });

  it('puts an unpinned chat back at its place by last use', () => {
    // the list as the core sent it while "old" was pinned, then unpinned in place
    const list = [chat('old', 1), chat('new', 3), chat('mid', 2)];
    expect(pinnedFirst(list).map((s) => s.id)).toEqual(['new', 'mid', 'old']);
  });
});
