import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket, PolicyPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

describe('the policy switch statement', () => {
  it('counts the conversation as the stats do, with thousands separators', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-switch-'));
    const core = new CoreService({ dbFile: join(dir, 'p.db'), maxAnswerTokens: 6 });
    const model = await core.modelsImport({ dir: testModelDir() });
    const session = await core.sessionsCreate({ name: 'Switch', modelId: model.id, policy: { name: 'sink', sink: 4, window: 252, pinSystem: false } });
    for (const text of ['The river kept flowing past the old mill. '.repeat(40), 'And then?', 'More, please.']) {
      await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text }, signal)).closed;
    }
    const done = (await readChannel<PolicyPacket>((signal) => core.policySet({ sessionId: session.id, policy: { name: 'window', sink: 0, window: 64, pinSystem: false } }, signal)).closed) as Extract<PolicyPacket, { type: 'done' }>;
    expect(done.stats.totalTokensSeen).toBeGreaterThan(999);
    expect(done.statement).toContain(`of the ${done.stats.totalTokensSeen.toLocaleString('en-US')} tokens of this conversation`);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
