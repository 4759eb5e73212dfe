import { describe, expect, it } from 'vitest';
import type { Message } from '../store/types.js';
import { matchTranscript, splitConversation } from './transcript-match.js';

let nextId = 1;
function msg(role: Message['role'], text: string, state: Message['state'] = 'done'): Message {
  const id = nextId++;
  return { id, sessionId: 1, seq: id, parentId: null, role, text, tokenCount: 0, state, stats: null, createdAt: 0, updatedAt: 0 };
}

describe('transcript matching', () => {
  const stored = [msg('user', 'a'), msg('assistant', 'A'), msg('user', 'b'), msg('assistant', 'B')];
  const req = (...texts: string[]) => splitConversation(texts.map((t, i) => ({ role: i % 2 ? 'assistant' : 'user', content: t })));

  it('continues a chat whose whole transcript starts the request, with what it lacks appended', () => {
    expect(matchTranscript(stored, req('a', 'A', 'b', 'B', 'c'))).toEqual({ kind: 'continued', reused: 4, extras: [] });
    expect(matchTranscript(stored, req('a', 'A', 'b', 'B', 'c', 'C', 'd'))).toMatchObject({ kind: 'appended', reused: 4, extras: [{ content: 'c' }, { content: 'C' }] });
  });

  it('regenerates an answered last turn, and branches where the request parts from the chat', () => {
    expect(matchTranscript(stored, req('a', 'A', 'b'))).toEqual({ kind: 'regenerated', reused: 3, answerId: stored[3].id });
    expect(matchTranscript(stored, req('a', 'A', 'x', 'X', 'y'))).toMatchObject({ kind: 'branched', reused: 2, forkAfter: stored[1].id, extras: [{ content: 'x' }, { content: 'X' }] });
    expect(matchTranscript(stored, req('z'))).toMatchObject({ kind: 'branched', reused: 0, forkAfter: null });
  });

  it('leaves out turns the model never held (a failed answer) and refuses a request that does not end with the user', () => {
    const failed = [msg('user', 'a'), msg('assistant', '', 'error')];
    expect(matchTranscript(failed, req('a', 'A', 'b'))).toMatchObject({ kind: 'appended', reused: 1 });
    expect(() => splitConversation([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'A' }])).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    expect(splitConversation([{ role: 'system', content: 's1' }, { role: 'system', content: 's2' }, { role: 'user', content: 'u' }])).toEqual({ system: 's1\n\ns2', history: [], last: 'u' });
  });
});
