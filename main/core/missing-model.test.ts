import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatPacket } from '../api/packets.js';
import { copyModelAs, testModelDir } from '../../native-models/test-models.js';
import { CoreService } from './core-service.js';
import { readChannel } from './read-channel.js';

/** A copy of the test model that is another model (its own fingerprint). */
const otherModel = (dir: string, changes: Record<string, unknown> = {}) => copyModelAs(testModelDir(), join(dir, 'other-model'), changes);

const sink = { name: 'sink', sink: 4, window: 60, pinSystem: false } as const;

async function answer(core: CoreService, sessionId: string, text: string) {
  const channel = readChannel<ChatPacket>((signal) => core.chatSend({ sessionId, text }, signal));
  channel.started.catch(() => {}); // a refusal is read from `closed`
  return channel.closed;
}

describe('a chat whose model folder is gone', () => {
  it('opens read-only with a typed reason, refuses to run with model_missing, and runs again once located or moved to another model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-missing-'));
    const dbFile = join(dir, 'perpetua.db');
    const other = otherModel(dir);
    let core = new CoreService({ dbFile, maxAnswerTokens: 8 });
    const gone = await core.modelsImport({ dir: other });
    const kept = await core.modelsImport({ dir: testModelDir() });
    expect(gone.id).not.toBe(kept.id);
    const chat = await core.sessionsCreate({ name: 'On the other model', modelId: gone.id, policy: sink });
    expect(await answer(core, chat.id, 'Once upon a time')).toMatchObject({ type: 'done' });
    await core.close();

    const moved = join(dir, 'moved-model');
    renameSync(other, moved);
    core = new CoreService({ dbFile, maxAnswerTokens: 8 });
    expect((await core.modelsList()).find((m) => m.id === gone.id)).toMatchObject({ missing: true });
    expect((await core.modelsList()).find((m) => m.id === kept.id)?.missing).toBeUndefined();

    const opened = await core.sessionsOpen({ id: chat.id });
    expect(opened.readOnly).toEqual({ code: 'model_missing', modelId: gone.id, modelName: gone.name, path: other });
    expect(opened.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(opened.stats.policy).toEqual(sink);
    await expect(answer(core, chat.id, 'more')).rejects.toMatchObject({ code: 'model_missing' });
    await expect(core.sessionsSetModel({ id: chat.id, modelId: gone.id })).rejects.toMatchObject({ code: 'model_missing' });

    // located: importing the folder where it is now points the model there (same fingerprint)
    expect(await core.modelsImport({ dir: moved })).toMatchObject({ id: gone.id, path: moved });
    expect((await core.sessionsOpen({ id: chat.id })).readOnly).toBeUndefined();

    // moved to another model: the transcript is re-read with it, and it answers
    const switched = await core.sessionsSetModel({ id: chat.id, modelId: kept.id });
    expect(switched.session.modelId).toBe(kept.id);
    expect(switched.readOnly).toBeUndefined();
    expect(switched.messages).toHaveLength(2);
    expect(switched.stats.cacheFill).toBeGreaterThan(0);
    expect(await answer(core, chat.id, 'and then')).toMatchObject({ type: 'done' });
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves a chat that runs well to a model with a smaller context: its window is cut to fit, and it answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-set-model-'));
    const core = new CoreService({ dbFile: join(dir, 'perpetua.db'), maxAnswerTokens: 8 });
    const wide = await core.modelsImport({ dir: testModelDir() });
    const narrow = await core.modelsImport({ dir: otherModel(dir, { max_position_embeddings: 128 }) });
    const chat = await core.sessionsCreate({ name: 'Wide window', modelId: wide.id, policy: { name: 'sink', sink: 4, window: 1020, pinSystem: false } });
    expect(await answer(core, chat.id, 'Once upon a time')).toMatchObject({ type: 'done' });

    const moved = await core.sessionsSetModel({ id: chat.id, modelId: narrow.id });
    expect(moved.session.modelId).toBe(narrow.id);
    expect(moved.stats.policy).toEqual({ name: 'sink', sink: 4, window: 124, pinSystem: false });
    expect(moved.messages).toHaveLength(2);
    expect(await answer(core, chat.id, 'and then')).toMatchObject({ type: 'done' });
    // a window that fits stays as it was
    const back = await core.sessionsSetModel({ id: chat.id, modelId: wide.id });
    expect(back.stats.policy).toEqual({ name: 'sink', sink: 4, window: 124, pinSystem: false });
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
