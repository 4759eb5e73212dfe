import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../native-models/seeded-random.js';
import { testModelDir } from '../../native-models/test-models.js';
import { ReliabilityTally, reliabilityScale } from '../eval/reliability-tally.js';
import { openDatabase } from '../store/database.js';
import { SessionLockedError } from '../store/errors.js';
import { SessionLocks } from '../store/session-locks.js';
import { Store } from '../store/store.js';
import { CliProcess, runMain } from './fixtures/cli-process.js';

/**
 * The concurrency suite (across processes): one writer per session. A second process is refused with who holds
 * the session; it never marks the first one's live answer stopped; a holder that died is taken over.
 */
const tally = new ReliabilityTally('concurrency');
const dir = mkdtempSync(join(tmpdir(), 'perpetua-locks-'));
const model = ['--model', testModelDir()];
const states = (db: string) =>
  new Database(db, { readonly: true }).prepare('SELECT s.name, m.role, m.state FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.id').all() as {
    name: string;
    role: string;
    state: string;
  }[];

/** A process that is alive while the test looks at it (`sleep`), or one that has exited. */
async function otherProcess(alive: boolean): Promise<{ pid: number; stop: () => void }> {
  const child = spawn('sleep', [alive ? '60' : '0']);
  if (!alive) await new Promise((r) => child.on('exit', r));
  return { pid: child.pid!, stop: () => child.kill() };
}

const processStart = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

afterAll(() => tally.print());

describe('concurrency suite', () => {
  it(`locks held by live, dead, reused and remote holders (${Math.round(12 * reliabilityScale())} seeded rounds)`, async () => {
    const mark = tally.bad.length;
    const rand = mulberry32(4242);
    const store = new Store(openDatabase(join(dir, 'units.db')));
    const modelId = store.upsertModel({ name: 'm', dir: 'm', fingerprint: 'f' }).id;
    const locks = new SessionLocks(store.db);
    const put = store.db.prepare('INSERT OR REPLACE INTO session_locks (session_id, pid, host, process_start, holder, acquired_at) VALUES (?, ?, ?, ?, ?, ?)');
    const host = (await import('node:os')).hostname();
    for (let round = 0; round < Math.round(12 * reliabilityScale()); round++) {
      const kind = (['live', 'dead', 'reused pid', 'other host'] as const)[Math.floor(rand() * 4)];
      const held = store.createSession({ name: `held ${round}`, modelId, policy: 'sink', policyParams: {} });
      const free = store.createSession({ name: `free ${round}`, modelId, policy: 'sink', policyParams: {} });
      const heldAnswer = store.appendMessage(held.id, { role: 'assistant', text: 'still streaming…', state: 'streaming' });
      const crashedAnswer = store.appendMessage(free.id, { role: 'assistant', text: 'cut off', state: 'streaming' });
      const other = await otherProcess(kind !== 'dead');
      const start = kind === 'reused pid' ? 'an earlier process' : kind === 'dead' ? '1' : processStart(other.pid);
      put.run(held.id, other.pid, kind === 'other host' ? 'another-host' : host, start, 'perpetua chat', Date.now());
      await tally.check(`${kind} holder, round ${round}`, () => {
        const owned = kind === 'live' || kind === 'other host';
        store.markInterruptedMessages();
        expect(store.getMessage(heldAnswer.id)!.state).toBe(owned ? 'streaming' : 'stopped');
        expect(store.getMessage(crashedAnswer.id)!.state).toBe('stopped');
        if (owned) {
          expect(() => locks.acquire(held.id, held.name, 'test')).toThrow(SessionLockedError);
          expect(() => locks.acquire(held.id, held.name, 'test')).toThrow(new RegExp(`is open in another Perpetua process \\(perpetua chat, pid ${other.pid} `));
        } else {
          locks.acquire(held.id, held.name, 'test');
          locks.release(held.id);
        }
        locks.acquire(free.id, free.name, 'test');
        locks.acquire(free.id, free.name, 'test'); // the holder itself may open it again
        locks.release(free.id);
      });
      other.stop();
    }
    store.db.close();
    expect(tally.bad.slice(mark)).toEqual([]);
  });

  it('a second CLI process on a streaming session is told who holds it and leaves its answer alone', async () => {
    const mark = tally.bad.length;
    const db = join(dir, 'two.db');
    const a = new CliProcess(['generate', ...model, '--db', db, '--session', 's', '--prompt', 'Once upon a time', '--max-tokens', '1000000', '--ignore-eos']);
    while (!a.stdout) await new Promise((r) => setTimeout(r, 20));
    await tally.check('second writer refused', async () => {
      const b = await runMain(['generate', ...model, '--db', db, '--session', 's', '--prompt', 'me too']);
      expect(b.code).toBe(1);
      expect(b.stderr.trim()).toMatch(new RegExp(`^perpetua: The chat "s" is open in another Perpetua process \\(perpetua generate, pid ${a.child.pid} on .*\\); close it there first\\. If that process is gone, the chat can be opened here within 90 s of its last sign of life, or taken over now\\.$`));
    });
    await tally.check('another session beside a live answer', async () => {
      const b = await runMain(['generate', ...model, '--db', db, '--session', 't', '--prompt', 'hello', '--max-tokens', '3']);
      expect(b.code).toBe(0);
      expect(states(db).filter((m) => m.name === 's')).toEqual([
        { name: 's', role: 'user', state: 'done' },
        { name: 's', role: 'assistant', state: 'streaming' },
      ]);
    });
    a.child.kill('SIGKILL');
    await a.exited;
    await tally.check('a dead holder is taken over', async () => {
      const b = await runMain(['generate', ...model, '--db', db, '--session', 's', '--prompt', 'after the crash', '--max-tokens', '3']);
      expect(b.code).toBe(0);
      expect(states(db).filter((m) => m.name === 's').map((m) => m.state)).toEqual(['done', 'stopped', 'done', 'done']);
    });
    expect(tally.bad.slice(mark)).toEqual([]);
  });
});
