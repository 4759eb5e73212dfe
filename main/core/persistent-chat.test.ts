import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FIXTURES, fixtureAvailable, testModelDir } from '../../native-models/test-models.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { describeRestore, PersistentChat } from './persistent-chat.js';
import type { PolicySpec } from '../policy/policy.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'main/cli/run.ts'];
const scratch = () => mkdtempSync(join(tmpdir(), 'perpetua-resume-'));

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [...CLI, ...args], { maxBuffer: 1 << 26 });
}

const POLICIES = [
  ['dense'],
  ['sink', '--sink', '4', '--window', '24', '--evict-chunk', '8'],
  ['window', '--window', '20', '--evict-chunk', '4'],
  ['recompute', '--window', '16'],
];
// the reference graph, the appending graph (the engine appends each run's new KV itself), and a real model
const MODEL_DIRS = [testModelDir(), testModelDir({ graph: { layout: 'appending' } }), ...(fixtureAvailable(FIXTURES.tinystories) ? [FIXTURES.tinystories] : [])];

describe('resume across processes', () => {
  for (const model of MODEL_DIRS) {
    for (const policy of POLICIES) {
      it(`${policy[0]} on ${model.split('/').pop()}: 40 greedy tokens = 20, exit, restore, 20 more`, async () => {
        const db = join(scratch(), 'chat.db');
        const common = ['--model', model, '--policy', ...policy, '--ignore-eos'];
        const whole = await cli(['generate', ...common, '--prompt', 'Once upon a time', '--max-tokens', '40']);
        const first = await cli(['generate', ...common, '--prompt', 'Once upon a time', '--max-tokens', '20', '--db', db, '--session', 's']);
        const second = await cli(['generate', ...common, '--max-tokens', '20', '--db', db, '--session', 's']);
        expect(second.stderr).toMatch(/Resumed "s" from its KV snapshot/);
        expect(first.stdout.replace(/\n$/, '') + second.stdout.replace(/\n$/, '')).toBe(whole.stdout.replace(/\n$/, ''));
        expect(whole.stdout.length).toBeGreaterThan(40);
      });
    }
  }
});

describe('damaged snapshots and databases', () => {
  async function chatWithOneTurn(spec: PolicySpec) {
    const dbFile = join(scratch(), 'chat.db');
    const model = await Model.load(testModelDir());
    const store = new Store(openDatabase(dbFile));
    const chat = await PersistentChat.open(store, model, { name: 'days', policy: spec });
    for await (const ev of chat.send('Hello there, how are you?', { maxTokens: 12 })) void ev;
    return { dbFile, model, store };
  }
  const spec: PolicySpec = { name: 'sink', sink: 4, window: 64, evictChunk: 16, pinSystem: false };

  it('disposes the cache a policy switch replaces', async () => {
    const { model, store } = await chatWithOneTurn(spec);
    const chat = await PersistentChat.open(store, model, { name: 'days' });
    const old = chat.engine.policy;
    expect(old.length).toBeGreaterThan(0);
    await chat.setPolicy({ ...spec, name: 'window', sink: 0, window: 24 });
    expect(chat.engine.policy).not.toBe(old);
    expect(old.length).toBe(0);
    expect(old.kvBytes()).toBe(0);
    await model.dispose();
  });

  for (const [damage, harm] of [
    ['a flipped bit', (b: Buffer) => { b[Math.floor(b.length / 2)] ^= 0x10; return b; }],
    ['a truncated snapshot', (b: Buffer) => b.subarray(0, b.length - 100)],
  ] as const) {
    it(`refuses ${damage} with a clear message and rebuilds the session from its transcript`, async () => {
      const { dbFile, model, store } = await chatWithOneTurn(spec);
      const seen = store.getSessionByName('days')!.totalTokensSeen;
      const snap = store.latestSnapshot(store.getSessionByName('days')!.id)!;
      store.db.prepare('UPDATE snapshots SET bytes = ? WHERE id = ?').run(harm(Buffer.from(snap.bytes)), snap.id);
      store.db.close();
      const store2 = new Store(openDatabase(dbFile));
      const chat = await PersistentChat.open(store2, model, { name: 'days' });
      const notices = describeRestore('days', chat.restored);
      expect(chat.restored).toMatchObject({ kind: 'rebuilt', reread: 2, refused: { code: 'snapshot_mismatch' } });
      expect(notices[0]).toMatch(/saved KV cache is damaged .* rebuilt from its transcript\.$/);
      expect(notices[1]).toMatch(/^Rebuilt "days" by re-reading its 2 message\(s\)/);
      // the rebuilt cache holds the transcript again (re-tokenized text may differ by a token or two)
      expect(Math.abs(chat.engine.policy.totalTokensSeen - seen)).toBeLessThanOrEqual(3);
      let text = '';
      for await (const ev of chat.send('And then?', { maxTokens: 5 })) if (ev.type === 'token') text += ev.text;
      expect(text.length).toBeGreaterThan(0);
      await model.dispose();
    });
  }

  it("refuses another model's snapshot and rebuilds", async () => {
    const { dbFile, model, store } = await chatWithOneTurn(spec);
    store.db.close();
    const other = await Model.load(testModelDir({ seed: 99 }));
    const reopened = await PersistentChat.open(new Store(openDatabase(dbFile)), other, { name: 'days' });
    const notices = describeRestore('days', reopened.restored);
    expect(notices[0]).toBe('The saved KV cache was made with a different model, so the conversation will be rebuilt from its transcript.');
    expect(notices[1]).toMatch(/^Rebuilt "days"/);
    await Promise.all([model.dispose(), other.dispose()]);
  });

  it('refuses a database written by a newer version without modifying it', async () => {
    const { dbFile, model, store } = await chatWithOneTurn(spec);
    store.db.pragma('user_version = 999');
    store.db.close();
    const before = createHash('sha256').update(readFileSync(dbFile)).digest('hex');
    const err = await cli(['sessions', '--db', dbFile]).then(() => null, (e) => e as { code: number; stderr: string });
    expect(err?.code).toBe(1);
    expect(err?.stderr.trim().split('\n')).toHaveLength(1);
    expect(err?.stderr).toMatch(/newer/);
    expect(createHash('sha256').update(readFileSync(dbFile)).digest('hex')).toBe(before);
    await model.dispose();
  });

  it('refuses a file that is not a database', async () => {
    const file = join(scratch(), 'notes.db');
    writeFileSync(file, 'just some text, not SQLite');
    const err = await cli(['sessions', '--db', file]).then(() => null, (e) => e as { code: number; stderr: string });
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/^perpetua: .*\.\n$/);
  });
});

describe('SIGKILL during streaming', () => {
  it('leaves a readable database with every committed message intact (24 random kills)', async () => {
    const model = testModelDir();
    // a first, finished turn: it must survive every later kill untouched
    const seed = join(scratch(), 'seed.db');
    const first = (await cli(['generate', '--model', model, '--prompt', 'Day one.', '--max-tokens', '10', '--db', seed, '--session', 'k'])).stdout.replace(/\n$/, '');
    const runs = Array.from({ length: 24 }, (_, i) => i);
    const results: { printed: string; db: string }[] = [];
    for (let batch = 0; batch < runs.length; batch += 3) {
      await Promise.all(
        runs.slice(batch, batch + 3).map(async (i) => {
          const db = join(scratch(), `kill-${i}.db`);
          copyFileSync(seed, db);
          const child = spawn(process.execPath, [...CLI, 'generate', '--model', model, '--db', db, '--session', 'k',
            '--ignore-eos', '--max-tokens', '1000000', '--temperature', '1', '--seed', String(i)], { stdio: ['ignore', 'pipe', 'pipe'] });
          let printed = '';
          // kill at a random moment once tokens are streaming (start-up time varies with machine load)
          const streaming = new Promise((r) => child.stdout.once('data', r));
          child.stdout.on('data', (d) => (printed += d));
          await Promise.race([streaming, new Promise((r) => setTimeout(r, 60_000))]);
          await new Promise((r) => setTimeout(r, Math.random() * 2500));
          child.kill('SIGKILL');
          await new Promise((r) => child.on('close', r));
          results.push({ printed, db });
        }),
      );
    }
    let onDisk = 0;
    for (const { printed, db } of results) {
      expect(printed.length).toBeGreaterThan(0);
      const raw = new Database(db, { readonly: true });
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = raw.prepare('SELECT role, text, state FROM messages ORDER BY seq').all() as { role: string; text: string; state: string }[];
      raw.close();
      expect(rows[0]).toMatchObject({ role: 'user', text: 'Day one.', state: 'done' });
      expect(rows[1]).toMatchObject({ role: 'assistant', state: 'done', text: first });
      if (rows[2]) {
        // the killed answer: what was committed is a prefix of what the process printed
        expect(rows[2].state).toBe('streaming');
        expect(printed.startsWith(rows[2].text)).toBe(true);
        if (rows[2].text.length > 0) onDisk++;
      }
    }
    // kills after the first one-second commit had streamed text on disk
    expect(onDisk).toBeGreaterThan(results.length / 4);
    // and a killed session opens and continues
    const resumed = await cli(['generate', '--model', model, '--db', results[0].db, '--session', 'k', '--max-tokens', '5']);
    expect(resumed.stderr).toMatch(/Resumed "k"|Rebuilt "k"/);
  }, 300_000); // 26 CLI processes: on a loaded 2-core machine each start alone can take 10–30 s
});
