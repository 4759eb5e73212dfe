import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';

/** Drives `perpetua chat` as a user would: type a line, wait for the streamed answer, type the next. */
async function chat(args: string[], lines: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli/run.ts', 'chat', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const answers = () => stderr.split('\n').filter((l) => /^\[\d+ tokens/.test(l)).length;
  for (const [i, line] of lines.entries()) {
    child.stdin.write(line + '\n');
    while (answers() < i + 1) await new Promise((r) => setTimeout(r, 20));
  }
  child.stdin.end('/exit\n');
  const code = await new Promise((r) => child.on('close', r));
  return { code, stdout, stderr };
}

describe('perpetua chat', () => {
  it('streams answers turn after turn and keeps the conversation in a bounded cache', async () => {
    const { code, stdout, stderr } = await chat(
      ['--model', testModelDir(), '--policy', 'sink', '--sink', '4', '--window', '48', '--max-tokens', '20', '--temperature', '0.7', '--seed', '3'],
      ['Hello there!', 'Tell me a story about a fox.', 'And then?'],
    );
    expect(code).toBe(0);
    expect(stderr).toMatch(/^Chatting with tiny-llama|Chatting with default/m);
    expect(stdout.split('> ').length).toBeGreaterThanOrEqual(4);
    const stats = stderr.split('\n').filter((l) => l.startsWith('['));
    expect(stats).toHaveLength(3);
    const seen = stats.map((l) => Number(/seen (\d+)/.exec(l)![1]));
    expect(seen[0]).toBeLessThan(seen[1]);
    expect(seen[1]).toBeLessThan(seen[2]);
    for (const l of stats) expect(Number(/cache (\d+)\/52/.exec(l)![1])).toBeLessThanOrEqual(52);
  });

  it('resumes a stored chat in a new process', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'perpetua-chat-')), 'chat.db');
    const args = ['--model', testModelDir(), '--db', db, '--session', 'monday', '--max-tokens', '8'];
    await chat(args, ['First day.']);
    const { stderr } = await chat(args, ['Second day.']);
    expect(stderr).toMatch(/Resumed "monday" from its KV snapshot/);
  });

  it('answers a stored chat with its own settings unless a flag overrides them', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'perpetua-chat-')), 'chat.db');
    const store = new Store(openDatabase(db));
    const model = store.upsertModel({ name: 'tiny-llama', dir: testModelDir(), fingerprint: 'set-in-the-app' });
    const session = store.createSession({ name: 'tuesday', modelId: model.id, policy: 'sink', policyParams: { sink: 4, window: 60, evictChunk: 16, pinSystem: false } });
    store.updateSessionGeneration(session.id, { maxTokens: 3, temperature: 0 }); // as the app's chat settings store them
    store.db.close();
    const args = ['--model', testModelDir(), '--db', db, '--session', 'tuesday'];
    expect((await chat(args, ['Hello.'])).stderr).toMatch(/^\[3 tokens/m);
    expect((await chat([...args, '--max-tokens', '5'], ['Hello again.'])).stderr).toMatch(/^\[5 tokens/m);
  });
});
