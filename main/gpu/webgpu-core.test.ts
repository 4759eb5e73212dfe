// The GPU suite, part 3: the core's operations on a model running on WebGPU, each of which reads the device KV
// (snapshots after every answer, policy switch, regenerate, edit and branch switch, system prompt, A/B), then a
// restart that resumes from the device-KV snapshot. Vitest runs this file in its own process: an abort fails it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AbPacket, ChatPacket, PolicyPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { CoreService } from '../core/core-service.js';
import { readChannel } from '../core/read-channel.js';
import { requireWebGpuAdapter } from './webgpu-adapter.js';

type Started = Extract<ChatPacket, { type: 'started' }>;

beforeAll(requireWebGpuAdapter);

async function finished<T extends { type: string }>(open: (signal: AbortSignal) => AsyncGenerator<T>): Promise<T> {
  const final = await readChannel<T>(open).closed;
  expect(final.type, JSON.stringify(final)).toBe('done');
  return final;
}

describe('the core on webgpu', () => {
  it('snapshots, switches policy, regenerates, edits, switches branches, changes the system prompt, runs A/B and resumes after a restart', async () => {
    const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-webgpu-core-')), 'perpetua.db');
    let core = new CoreService({ dbFile, maxAnswerTokens: 10 });
    const imported = await core.modelsImport({ dir: testModelDir() });
    const model = await core.modelsSetProvider({ modelId: imported.id, provider: 'webgpu' });
    expect(model.provider).toBe('webgpu');
    expect(model.gpuAdapter).toBeTruthy();
    const session = await core.sessionsCreate({ name: 'gpu', modelId: model.id, policy: { name: 'sink', sink: 4, window: 40, pinSystem: false } });
    const send = async (text: string) => {
      const answer = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: session.id, text }, signal));
      const started = (await answer.started) as Started;
      expect((await answer.closed).type).toBe('done');
      return started;
    };
    const first = await send('We packed the car for the long trip north.');
    await send('Then the road turned to gravel and the rain came down.');

    const switched = (await finished<PolicyPacket>((signal) =>
      core.policySet({ sessionId: session.id, policy: { name: 'window', sink: 0, window: 32, pinSystem: false } }, signal),
    )) as Extract<PolicyPacket, { type: 'done' }>;
    expect(switched.stats.executionProvider).toBe('webgpu');
    expect(switched.stats.cacheCapacity).toBe(32);

    await finished<ChatPacket>((signal) => core.chatRegenerate({ sessionId: session.id }, signal));
    const firstUser = first.user!;
    const edit = readChannel<ChatPacket>((signal) => core.chatEdit({ sessionId: session.id, messageId: firstUser.id, text: 'We packed the van.' }, signal));
    const edited = (await edit.started) as Started;
    expect(edited.user?.text).toBe('We packed the van.');
    expect((await edit.closed).type).toBe('done');
    const back = await core.chatSwitchBranch({ sessionId: session.id, messageId: firstUser.id, version: 0 });
    expect(back.switched).toBe(true);

    await core.sessionsSetSystemPrompt({ id: session.id, systemPrompt: 'Be brief.' });
    const ab = await finished<AbPacket>((signal) =>
      core.abStart({ sessionId: session.id, a: { name: 'sink', sink: 4, window: 28, pinSystem: false }, b: { name: 'window', sink: 0, window: 32, pinSystem: false }, prompt: 'And then', maxTokens: 6 }, signal),
    );
    expect(ab.type).toBe('done');
    await core.close();

    // a new process would do the same: the session opens from the snapshot written on webgpu
    core = new CoreService({ dbFile, maxAnswerTokens: 10 });
    const opened = await core.sessionsOpen({ id: session.id });
    expect(JSON.stringify(opened)).not.toMatch(/rebuilt|mismatch/i);
    await send('Home at last.');
    await core.close();
  });
});
