import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import type { PolicyConfig, Stats } from '../api/schemas.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

const LONG = 'The lighthouse keeper wrote down every ship that passed, every storm and every calm night. '.repeat(4);

/** A session with three turns (a short question, its answer, a long paste); the stats after the last answer. */
async function chatOf(policy: PolicyConfig, systemPrompt?: string): Promise<{ stats: Stats; core: CoreService }> {
  const core = new CoreService({ dbFile: join(mkdtempSync(join(tmpdir(), 'perpetua-view-')), 'p.db'), maxAnswerTokens: 12 });
  let last: Stats | null = null;
  const model = await core.modelsImport({ dir: testModelDir() });
  const session = await core.sessionsCreate({ name: 'View', modelId: model.id, policy, ...(systemPrompt ? { systemPrompt } : {}) });
  for (const text of ['Tell me about lighthouses.', LONG]) {
    const answer = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text }, signal));
    await answer.closed;
    for (const p of answer.packets) if (p.type === 'stats') last = p.stats;
  }
  const opened = await core.sessionsOpen({ id: session.id });
  expect(last).not.toBeNull();
  return { stats: opened.stats, core };
}

describe('cache view: what the model still sees', () => {
  it('puts the start of memory inside the long paste and keeps the pinned system prompt', async () => {
    const { stats, core } = await chatOf({ name: 'sink', sink: 4, window: 24, pinSystem: true }, 'Be brief.');
    const view = stats.view!;
    // seq 1 question, 2 answer, 3 the long paste, 4 its answer (≤ 12 tokens): the window of 24 reaches into the paste
    expect(view.heldFromSeq).toBe(3);
    expect(view.heldTokensOfFirst).toBeGreaterThan(0);
    expect(view.heldTokensOfFirst).toBeLessThan(24);
    expect(view.evictedTokens).toBe(stats.totalTokensSeen - stats.cacheFill);
    expect(view.system).toBe('kept');
    expect(view.keptSeqs).toEqual([]);
    await core.close();
  });

  it('marks the first turn as kept when the sinks are its first tokens', async () => {
    const { stats, core } = await chatOf({ name: 'sink', sink: 4, window: 24, pinSystem: false });
    expect(stats.view!.keptSeqs).toEqual([1]);
    expect(stats.view!.keptTokens).toBe(4);
    expect(stats.view!.system).toBeNull();
    await core.close();
  });

  it('says a system prompt the sinks hold only the start of is forgotten once evicted, not kept (not pinned)', async () => {
    const { stats, core } = await chatOf({ name: 'sink', sink: 4, window: 24, pinSystem: false }, 'You are a patient storyteller who writes about the sea.');
    expect(stats.view!.keptTokens).toBe(4);
    expect(stats.view!.system).toBe('forgotten');
    await core.close();
  });

  it('sees everything under the dense policy', async () => {
    const { stats, core } = await chatOf({ name: 'dense', sink: 0, window: 1024, pinSystem: false });
    expect(stats.view).toMatchObject({ heldFromSeq: null, evictedTokens: 0, keptSeqs: [] });
    await core.close();
  });
});
