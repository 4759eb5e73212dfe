/**
 * Requests that overlap on one session are answered `busy`, and leave the session as it was: nothing is
 * accepted half-way (a send during a policy switch would leave the cache inconsistent with the transcript).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

async function setUp(maxAnswerTokens = 6) {
  const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-busy-')), 'perpetua.db');
  const core = new CoreService({ dbFile, maxAnswerTokens });
  const model = await core.modelsImport({ dir: testModelDir() });
  const session = await core.sessionsCreate({ name: 'overlap', modelId: model.id, policy: { name: 'sink', sink: 4, window: 64, pinSystem: false } });
  return { core, dbFile, model, session };
}

/** Sends; `started` resolves once the core stored the turn (rejects when refused), `done` at the end. */
function send(core: CoreService, sessionId: string, text: string) {
  return readChannel<ChatPacket>((signal) => core.chatSend({ sessionId, text }, signal));
}

/** The code an API call was refused with (null when it was accepted). */
async function refusal(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
}

describe('overlapping requests on one session', () => {
  it('refuse a send while the policy switches, and the switch completes', async () => {
    const { core, session } = await setUp();
    const switching = readChannel((signal) => core.policySet({ sessionId: session.id, policy: { name: 'window', sink: 0, window: 32, pinSystem: false } }, signal));
    expect(await refusal(send(core, session.id, 'in between').started)).toBe('busy');
    expect((await switching.closed).type).toBe('done');
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.messages).toEqual([]);
    expect(opened.stats.policy).toMatchObject({ name: 'window', window: 32 });
    await core.close();
  });

  it('refuse a policy switch and a regenerate while an answer streams', async () => {
    const { core, session } = await setUp(100_000);
    const sent = send(core, session.id, 'Once upon a time');
    await sent.started;
    const switching = readChannel((signal) => core.policySet({ sessionId: session.id, policy: { name: 'dense', sink: 0, window: 1, pinSystem: false } }, signal));
    expect(await refusal(switching.started)).toBe('busy');
    expect(await refusal(readChannel((signal) => core.chatRegenerate({ sessionId: session.id }, signal)).started)).toBe('busy');
    await core.chatStop({ sessionId: session.id });
    await sent.closed;
    expect((await core.sessionsOpen({ id: session.id })).stats.policy.name).toBe('sink');
    await core.close();
  });

  it('refuse an edit and a branch switch while an answer streams, and store nothing for them', async () => {
    const { core, session } = await setUp(100_000);
    const sent = send(core, session.id, 'Once upon a time');
    const user = ((await sent.started) as Extract<ChatPacket, { type: 'started' }>).user!;
    const edit = readChannel((signal) => core.chatEdit({ sessionId: session.id, messageId: user.id, text: 'Twice upon a time' }, signal));
    expect(await refusal(edit.started)).toBe('busy');
    expect(await refusal(core.chatSwitchBranch({ sessionId: session.id, messageId: user.id, version: 0 }))).toBe('busy');
    await core.chatStop({ sessionId: session.id });
    await sent.closed;
    const opened = await core.sessionsOpen({ id: session.id });
    expect(opened.messages.map((m) => [m.role, m.siblings])).toEqual([['user', { index: 0, count: 1 }], ['assistant', { index: 0, count: 1 }]]);
    await core.close();
  });

  it('accept one of two sends that arrive while the session opens, and refuse the other', async () => {
    const { core, dbFile, session } = await setUp();
    await core.close();
    const again = new CoreService({ dbFile, maxAnswerTokens: 6 });
    const first = send(again, session.id, 'first');
    const second = send(again, session.id, 'second');
    const codes = [await refusal(first.started), await refusal(second.started)];
    expect([...codes].sort()).toEqual(['busy', null].sort());
    await (codes[0] === null ? first : second).closed;
    const opened = await again.sessionsOpen({ id: session.id });
    expect(opened.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    await again.close();
  });
});
