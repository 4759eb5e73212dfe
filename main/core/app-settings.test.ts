import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApiClient } from '../api/api-client.js';
import { ApiError } from '../api/api-error.js';
import type { ChatPacket } from '../api/packets.js';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { DEFAULT_SNAPSHOT_BUDGET } from '../store/snapshot-budget.js';
import { Store } from '../store/store.js';
import { createApiRouter } from './api-router.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

const POLICY = { name: 'sink', sink: 4, window: 120, pinSystem: false } as const;

/** The core behind the router, as the renderer calls it: params are validated there. */
function routed(core: CoreService) {
  const api = createApiClient({ send: (req) => void router.handle(JSON.parse(JSON.stringify(req))) });
  const router = createApiRouter(core, (m) => api.receive(JSON.parse(JSON.stringify(m))));
  return api.bridge;
}

describe('app settings', () => {
  it('keeps the defaults for new chats, the provider and the language across a restart; refuses bad values with a sentence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-app-settings-'));
    const dbFile = join(dir, 'p.db');
    let core = new CoreService({ dbFile });
    let client = routed(core);
    expect(await client.settingsGet()).toEqual({ policy: null, generation: {}, provider: 'cpu', locale: null, snapshotBudgetBytes: DEFAULT_SNAPSHOT_BUDGET });
    const wanted = {
      policy: { name: 'window', sink: 0, window: 300, pinSystem: false },
      generation: { temperature: 0.7, topP: 0.9, topK: 40 },
      provider: 'webgpu',
      locale: 'zh-CN',
      snapshotBudgetBytes: 512 * 2 ** 20,
    } as const;
    expect(await client.settingsSet(wanted)).toEqual(wanted);
    // a model added now runs on the chosen provider
    expect((await client.modelsImport({ dir: testModelDir() })).provider).toBe('webgpu');

    const refused = async (p: Record<string, unknown>) => {
      const err = await client.settingsSet(p as never).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('invalid_params');
      return (err as ApiError).message;
    };
    expect(await refused({ snapshotBudgetBytes: -1 })).toContain('The snapshot budget cannot be negative.');
    expect(await refused({ snapshotBudgetBytes: 1.5 })).toContain('The snapshot budget must be a whole number of bytes.');
    expect(await refused({ snapshotBudgetBytes: '1 GB' })).toContain('The snapshot budget must be a number of bytes.');
    expect(await refused({ generation: { temperature: -1 } })).toContain('The temperature must be at least 0.');
    await refused({ locale: 'fr' });
    await refused({ policy: { name: 'window', sink: 0, window: 0, pinSystem: false } });
    await refused({ theme: 'dark' });
    await core.close();

    core = new CoreService({ dbFile });
    client = routed(core);
    expect(await client.settingsGet()).toEqual(wanted);
    await client.settingsSet({ policy: null, locale: null });
    expect(await client.settingsGet()).toMatchObject({ policy: null, locale: null, provider: 'webgpu' });
    await core.close();

    // a value another version (or a hand) stored that today's bounds refuse takes its default; the rest stay
    const store = new Store(openDatabase(dbFile));
    store.settings.set('newChatGeneration', { temperature: -5, topP: 0.5 });
    store.settings.set('snapshotBudgetBytes', 'lots');
    store.db.close();
    core = new CoreService({ dbFile });
    expect(await core.settingsGet()).toMatchObject({ generation: { topP: 0.5 }, snapshotBudgetBytes: DEFAULT_SNAPSHOT_BUDGET });
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a smaller snapshot budget drops the least recently used chats’ snapshots at once, and every later save keeps within it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-budget-setting-'));
    const dbFile = join(dir, 'p.db');
    const core = new CoreService({ dbFile, maxAnswerTokens: 8 });
    const client = routed(core);
    const model = await client.modelsImport({ dir: testModelDir() });
    const ids: Record<string, string> = {};
    for (const name of ['a', 'b', 'c']) {
      ids[name] = (await client.sessionsCreate({ name, modelId: model.id, policy: POLICY })).id;
      await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: ids[name], text: `The ${name} chat begins here.` }, signal)).closed;
    }
    // a second connection reads what each chat's snapshots take
    const reader = new Store(openDatabase(dbFile));
    const bytesOf = (name: string) => reader.snapshotBudget.usage().find((u) => String(u.sessionId) === ids[name])?.bytes ?? 0;
    const [a, b, c] = [bytesOf('a'), bytesOf('b'), bytesOf('c')];
    expect(Math.min(a, b, c)).toBeGreaterThan(0);
    expect(await client.snapshotsUsage()).toEqual({ usedBytes: a + b + c, budgetBytes: DEFAULT_SNAPSHOT_BUDGET, chats: 3 });

    // room for b's and c's: a, used least recently, loses its snapshots, at once
    await client.settingsSet({ snapshotBudgetBytes: b + c });
    expect([bytesOf('a'), bytesOf('b'), bytesOf('c')]).toEqual([0, b, c]);
    expect(await client.snapshotsUsage()).toEqual({ usedBytes: b + c, budgetBytes: b + c, chats: 2 });

    // b's next turn adds KV: the stored budget holds for that save too, so c (now the least recently used) goes
    await readChannel<ChatPacket>((signal) => core.chatSend({ sessionId: ids.b, text: 'And it goes on.' }, signal)).closed;
    expect(bytesOf('b')).toBeGreaterThan(b);
    expect(bytesOf('c')).toBe(0);
    expect((await client.snapshotsUsage()).usedBytes).toBe(bytesOf('b'));

    // a chat whose snapshots were dropped re-reads its transcript; nothing of it is lost
    const reopened = await client.sessionsOpen({ id: ids.a });
    expect(reopened.messages.map((m) => m.role)).toEqual(['user', 'assistant']);

    // deleting a chat frees its space
    await client.sessionsDelete({ id: ids.b });
    expect(await client.snapshotsUsage()).toEqual({ usedBytes: 0, budgetBytes: b + c, chats: 0 });
    reader.db.close();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
