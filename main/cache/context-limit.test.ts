import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { Engine, type GenerationEvent } from '../engine/engine.js';
import { ContextFullError, DEFAULT_POLICY, defaultPolicyFor, type PolicySpec } from '../policy/policy.js';
import { Model } from '../engine/model.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersistentChat } from '../core/persistent-chat.js';
import { CoreService } from '../core/core-service.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { createPolicy } from './create-policy.js';

const dense: PolicySpec = { ...DEFAULT_POLICY, name: 'dense' };
const prompt = (n: number) => Array.from({ length: n }, (_, i) => 40 + ((i * 31) % 400));

async function done(gen: AsyncGenerator<GenerationEvent>) {
  for await (const ev of gen) if (ev.type === 'done') return ev;
  throw new Error('no done event');
}

describe("a dense cache at the model's context", () => {
  it('ends an answer when the context is full, with the reason, instead of running past it', async () => {
    const model = await Model.load(testModelDir({ maxPositions: 64 }));
    const engine = new Engine(model, createPolicy(dense, model.config));
    expect(engine.policy.capacity).toBe(64);
    await engine.feed(prompt(58));
    const end = await done(engine.generate({ maxTokens: 20, ignoreEos: true }));
    expect(end.reason).toBe('context');
    expect(end.tokens).toHaveLength(6);
    expect(engine.policy.length).toBe(64);
    await model.dispose();
  });

  it('refuses a prompt that does not fit with one sentence, keeping what fitted; evaluations may go past on purpose', async () => {
    const model = await Model.load(testModelDir({ maxPositions: 64 }));
    const engine = new Engine(model, createPolicy(dense, model.config));
    const err = await engine.feed(prompt(70), { chunk: 16 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ContextFullError);
    expect((err as Error).message).toBe(
      "The dense cache holds the model's whole 64-token context, so it stops here; start a new chat or switch to the sink policy to keep going.",
    );
    expect(engine.policy.length).toBe(64);
    const evaluation = new Engine(model, createPolicy(dense, model.config, undefined, { beyondContext: true }));
    await evaluation.feed(prompt(70), { chunk: 16 });
    expect(evaluation.policy.length).toBe(70);
    await model.dispose();
  });
});

describe("a new chat's window", () => {
  it("fits the model's context: sink 4 + min(1020, context − 4)", () => {
    expect(defaultPolicyFor(2048)).toMatchObject({ name: 'sink', sink: 4, window: 1020 });
    expect(defaultPolicyFor(512)).toMatchObject({ sink: 4, window: 508 });
    expect(defaultPolicyFor(300, 8)).toMatchObject({ sink: 8, window: 292 });
    expect(defaultPolicyFor(undefined)).toMatchObject({ sink: 4, window: 1020 });
  });

  it('is what a chat opened without a policy gets', async () => {
    const model = await Model.load(testModelDir({ maxPositions: 256 }));
    const store = new Store(openDatabase(join(mkdtempSync(join(tmpdir(), 'perpetua-ctx-')), 'chats.db')));
    const chat = await PersistentChat.open(store, model, { name: 'fits' });
    expect(chat.engine.policy.spec).toMatchObject({ name: 'sink', sink: 4, window: 252 });
    expect(chat.engine.policy.capacity).toBe(256);
    store.db.close();
    await model.dispose();
  });

  it('is what the model manager offers a new chat on that model', async () => {
    const core = new CoreService({ dbFile: join(mkdtempSync(join(tmpdir(), 'perpetua-ctx-')), 'perpetua.db') });
    const small = await core.modelsImport({ dir: testModelDir({ maxPositions: 256 }) });
    expect(small.defaultPolicy).toEqual({ name: 'sink', sink: 4, window: 252, pinSystem: false });
    await core.close();
  });
});
