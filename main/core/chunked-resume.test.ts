import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { genaiModelDir, layoutModelDir } from '../../native-models/layout-fixtures.js';
import { testModelDir } from '../../native-models/test-models.js';
import { decodeManifest, snapshotVersionOf } from '../cache/snapshot-manifest.js';
import { Model } from '../engine/model.js';
import type { PolicySpec } from '../policy/policy.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { PersistentChat, type SessionEvent } from './persistent-chat.js';

/**
 * Chunked snapshots resume token-exact: for every layout and cache policy, a chat closed and reopened between turns
 * (each reopen assembling its cache from a manifest and the chunks earlier turns appended, keys turned where
 * evictions moved them) continues exactly as the same chat never closed. Greedy, so the continuation is a function
 * of the cache alone.
 */
const GREEDY = { maxTokens: 10, ignoreEos: true, sampling: { temperature: 0 } };
const TURNS = ['Once upon a time', 'there was a fox', 'in the woods.', 'It ran far away', 'and came back', 'at night.', 'Then it slept', 'The end'];

const MODELS: { name: string; dir: () => string; variant?: string }[] = [
  { name: 'reference', dir: () => testModelDir() },
  { name: 'appending', dir: () => testModelDir({ graph: { layout: 'appending' } }) },
  { name: 'fused', dir: () => layoutModelDir([{ file: 'onnx/model_bnb4.onnx', graph: { layout: 'fused' } }]), variant: 'bnb4' },
  { name: 'fp16 KV', dir: () => layoutModelDir([{ file: 'onnx/model_fp16.onnx', float16: true }]), variant: 'fp16' },
  { name: 'genai', dir: () => genaiModelDir() },
];

const POLICIES: PolicySpec[] = [
  { name: 'dense', sink: 0, window: 512, evictChunk: 16, pinSystem: false },
  { name: 'sink', sink: 4, window: 48, evictChunk: 8, pinSystem: false },
  { name: 'window', sink: 0, window: 40, evictChunk: 4, pinSystem: false },
  { name: 'recompute', sink: 0, window: 16, evictChunk: 16, pinSystem: false },
];

const loaded: Model[] = [];
afterAll(async () => {
  for (const m of loaded) await m.dispose();
});

async function drain(events: AsyncGenerator<SessionEvent>): Promise<void> {
  for await (const ev of events) void ev;
}

/** What the cache holds and says next: 12 greedy tokens after the last turn. */
async function continuation(chat: PersistentChat): Promise<{ text: string; tokens: number[]; history: number[]; seen: number }> {
  let text = '';
  for await (const ev of chat.engine.generate({ maxTokens: 12, ignoreEos: true, sampling: { temperature: 0 } })) if (ev.type === 'done') text = ev.text;
  const c = chat.engine.policy.contents();
  return { text, tokens: c.tokens, history: c.history, seen: c.totalTokensSeen };
}

describe('chunked snapshots resume token-exact', () => {
  for (const m of MODELS) {
    it(`${m.name}: every policy, reopened after every turn, continues as the chat never closed`, async () => {
      const model = await Model.load(m.dir(), m.variant ? { variant: m.variant } : {});
      loaded.push(model);
      const dbFile = join(mkdtempSync(join(tmpdir(), 'perpetua-chunked-')), 'chat.db');
      let store = new Store(openDatabase(dbFile));
      for (const policy of POLICIES) {
        const whole = await PersistentChat.open(store, model, { name: `${policy.name}-whole`, policy, raw: true });
        for (const t of TURNS) await drain(whole.send(t, GREEDY));
        const expected = await continuation(whole);
        whole.close();

        const name = `${policy.name}-reopened`;
        let chat = await PersistentChat.open(store, model, { name, policy, raw: true });
        for (const t of TURNS) {
          await drain(chat.send(t, GREEDY));
          chat.close();
          store.db.close();
          store = new Store(openDatabase(dbFile));
          chat = await PersistentChat.open(store, model, { name, raw: true });
          expect(chat.restored, `${policy.name} after "${t}"`).toMatchObject({ kind: 'resumed', reread: 0, refused: null });
        }
        const latest = store.latestSnapshot(chat.session.id)!;
        expect(snapshotVersionOf(latest.bytes)).toBe(2);
        // each turn appended a chunk of its own tokens: the cache is assembled from several (none without KV)
        const manifest = decodeManifest(latest.bytes, { modelFingerprint: model.fingerprint });
        if (policy.name === 'recompute') expect(manifest.chunks).toEqual([]);
        else expect(manifest.chunks.length, policy.name).toBeGreaterThan(1);
        expect(await continuation(chat), policy.name).toEqual(expected);
        chat.close();
      }
      store.db.close();
    });
  }
});
