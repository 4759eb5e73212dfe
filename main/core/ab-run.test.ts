import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', ...args], { maxBuffer: 1 << 24 });

describe('perpetua ab', () => {
  it('forks a session into two policies, answers both, stores the run and continues from the vote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-ab-'));
    const db = join(dir, 'chat.db');
    const model = testModelDir();
    await cli(['generate', '--model', model, '--db', db, '--session', 'trip', '--prompt', 'We packed the car for the long trip north.', '--max-tokens', '40', '--ignore-eos']);
    const out = join(dir, 'ab.json');
    const { stdout } = await cli(['ab', '--model', model, '--db', db, '--session', 'trip', '--a', 'sink:4:32', '--b', 'window:0:24',
      '--prompt', 'Then the road', '--max-tokens', '16', '--temperature', '0.8', '--seed', '5', '--json', out, '--vote', 'b']);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    for (const [label, policy, capacity] of [['a', 'sink', 36], ['b', 'window', 24]] as const) {
      const m = json[label];
      expect(m.policy.name).toBe(policy);
      expect(m.tokens).toBe(16);
      expect(m.answer.length).toBeGreaterThan(0);
      expect(stdout).toContain(m.answer);
      expect(m.latencyP90Ms).toBeGreaterThanOrEqual(m.latencyP50Ms);
      expect(m.cacheCapacity).toBe(capacity);
      expect(m.cacheFill).toBeLessThanOrEqual(capacity);
      expect(m.kvBytes).toBe(m.cacheFill * 2 * 2 * 2 * 16 * 4); // layers × (K, V) × kvHeads × headDim × float32
      expect(m.transcriptPpl).toBeGreaterThan(1);
      expect(m.fork).toBe('forked');
    }
    const store = new Store(openDatabase(db));
    const [stored] = store.listAbRuns();
    expect(stored).toMatchObject({ prompt: 'Then the road', vote: 'b' });
    expect((stored.metrics as { a: { answer: string } }).a.answer).toBe(json.a.answer);
    // the session continues from branch b: its policy and the answer are the session's now
    const session = store.getSessionByName('trip')!;
    expect(session.policy).toBe('window');
    expect(store.listMessages(session.id).at(-1)).toMatchObject({ role: 'assistant', text: json.b.answer });
    store.db.close();
  });
});
