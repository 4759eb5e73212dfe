import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApiClient } from '../api/api-client.js';
import { ApiError } from '../api/api-error.js';
import { testModelDir } from '../../native-models/test-models.js';
import { createApiRouter } from './api-router.js';
import { CoreService } from './core-service.js';
import { BUILTIN_PRESETS } from './presets.js';

function routed(core: CoreService) {
  const api = createApiClient({ send: (req) => void router.handle(JSON.parse(JSON.stringify(req))) });
  const router = createApiRouter(core, (m) => api.receive(JSON.parse(JSON.stringify(m))));
  return api.bridge;
}

describe('presets', () => {
  it('saves a system prompt with sampling under a name, replaces it by name, keeps it across a restart, deletes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-presets-'));
    const dbFile = join(dir, 'p.db');
    let core = new CoreService({ dbFile });
    let client = routed(core);
    expect(await client.presetsList()).toEqual(BUILTIN_PRESETS);
    const saved = await client.presetsSave({ name: 'Translator', systemPrompt: '把下面的话翻成英文。', generation: { temperature: 0.3, seed: 4 } });
    expect(saved).toEqual({ id: saved.id, name: 'Translator', systemPrompt: '把下面的话翻成英文。', generation: { temperature: 0.3, seed: 4 } });
    const again = await client.presetsSave({ name: 'Translator', systemPrompt: 'Translate.', generation: {} });
    expect(again.id).toBe(saved.id);
    await core.close();

    core = new CoreService({ dbFile });
    client = routed(core);
    expect((await client.presetsList()).slice(BUILTIN_PRESETS.length)).toEqual([{ id: saved.id, name: 'Translator', systemPrompt: 'Translate.', generation: {} }]);

    // a preset's settings start a new chat
    const model = await client.modelsImport({ dir: testModelDir() });
    const chat = await client.sessionsCreate({ name: 'From preset', modelId: model.id, policy: { name: 'sink', sink: 4, window: 120, pinSystem: false }, systemPrompt: 'Translate.', generation: { temperature: 0.3 } });
    expect(await client.sessionsSettings({ id: chat.id })).toMatchObject({ generation: { temperature: 0.3 }, systemPrompt: 'Translate.' });

    const refused = async (call: () => Promise<unknown>, code: string) => {
      const err = await call().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe(code);
      return (err as ApiError).message;
    };
    expect(await refused(() => client.presetsSave({ name: ' ', systemPrompt: '', generation: {} }), 'invalid_params')).toContain('The name is empty.');
    expect(await refused(() => client.presetsSave({ name: 'x', systemPrompt: '', generation: { topP: 2 } }), 'invalid_params')).toContain('Top-p must be at most 1.');
    expect(await refused(() => client.presetsSave({ name: 'creative', systemPrompt: '', generation: {} }), 'invalid_input')).toContain('built-in preset');
    expect(await refused(() => client.presetsDelete({ id: 'builtin:precise' }), 'invalid_input')).toBe('Built-in presets cannot be deleted.');

    await client.presetsDelete({ id: saved.id });
    expect(await client.presetsList()).toEqual(BUILTIN_PRESETS);
    await refused(() => client.presetsDelete({ id: saved.id }), 'not_found');
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('pinned chats', () => {
  it('are listed first, stay pinned across a restart, and pinning is no use of the chat', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-pins-'));
    const dbFile = join(dir, 'p.db');
    let core = new CoreService({ dbFile });
    let client = routed(core);
    const model = await client.modelsImport({ dir: testModelDir() });
    const policy = { name: 'sink', sink: 4, window: 120, pinSystem: false } as const;
    const old = await client.sessionsCreate({ name: 'Old', modelId: model.id, policy });
    await client.sessionsCreate({ name: 'New', modelId: model.id, policy });
    expect((await client.sessionsList()).map((s) => s.name)).toEqual(['New', 'Old']);
    const pinned = await client.sessionsSetPinned({ id: old.id, pinned: true });
    expect(pinned).toMatchObject({ pinned: true, updatedAt: old.updatedAt });
    expect((await client.sessionsList()).map((s) => [s.name, s.pinned ?? false])).toEqual([['Old', true], ['New', false]]);
    await core.close();

    core = new CoreService({ dbFile });
    client = routed(core);
    expect((await client.sessionsList()).map((s) => s.name)).toEqual(['Old', 'New']);
    await client.sessionsSetPinned({ id: old.id, pinned: false });
    expect((await client.sessionsList()).map((s) => s.name)).toEqual(['New', 'Old']);
    const err = await client.sessionsSetPinned({ id: old.id, pinned: 'yes' as never }).then(() => null, (e: unknown) => e);
    expect((err as ApiError).code).toBe('invalid_params');
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
