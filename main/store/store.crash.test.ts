import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { Store } from './store.js';
import { mulberry32 as rng } from '../../native-models/seeded-random.js';

/**
 * Crash safety of the streaming path: a child process streams replies through
 * StreamingMessageWriter (fixtures/crash-writer.ts) and is SIGKILLed at random moments, sometimes
 * while still opening/migrating. Several chains run in parallel; within a chain every run reopens the
 * database the previous one was killed in. After each kill the database must open, pass SQLite's and
 * FTS5's integrity checks, and hold at least every text the child reported as committed.
 */

const FIXTURE = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CHAINS = 4;
const RUNS_PER_CHAIN = 7; // 28 kills in all
const SEED = Date.now() >>> 0;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpetua-crash-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


interface Reported {
  messageId: number;
  length: number;
  sha: string;
  done: boolean;
}

interface RunResult {
  reported: Reported[];
  /** checkpoints the worker thread had made when the child last said so */
  checkpoints: number;
  sawReady: boolean;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs one child and SIGKILLs it `afterReadyMs` after READY, or `earlyMs` after spawn when given. */
function runAndKill(file: string, session: string, seed: number, kill: { earlyMs?: number; afterReadyMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, FIXTURE, file, session, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    let sawReady = false;
    const killNow = () => child.kill('SIGKILL');
    const guard = setTimeout(killNow, 15_000); // never hang the suite
    if (kill.earlyMs !== undefined) setTimeout(killNow, kill.earlyMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (!sawReady && out.includes('READY\n')) {
        sawReady = true;
        if (kill.earlyMs === undefined) setTimeout(killNow, kill.afterReadyMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(guard);
      // Only complete lines count: the kill may cut the last one short.
      const lines = out.split('\n').slice(0, -1);
      const reported = lines
        .filter((l) => l.startsWith('COMMIT ') || l.startsWith('DONE '))
        .map((l) => {
          const [kind, id, length, sha] = l.split(' ');
          return { messageId: Number(id), length: Number(length), sha, done: kind === 'DONE' };
        });
      const checkpoints = Math.max(0, ...lines.filter((l) => l.startsWith('CHECKPOINT ')).map((l) => Number(l.split(' ')[1])));
      resolve({ reported, checkpoints, sawReady, signal, stderr });
    });
  });
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Opens the database after a kill and checks it against what the child reported. */
function verify(file: string, reported: Reported[], context: string): void {
  const db = openDatabase(file);
  try {
    expect(db.pragma('integrity_check', { simple: true }), context).toBe('ok');
    expect(db.pragma('foreign_key_check'), context).toEqual([]);
    // Throws SQLITE_CORRUPT_VTAB if the full-text index and the messages table disagree.
    db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
    const store = new Store(db);
    for (const r of reported) {
      const m = store.getMessage(r.messageId);
      expect(m, `${context}: message ${r.messageId} reported committed but missing`).toBeDefined();
      expect(m!.text.length, `${context}: message ${r.messageId} shorter than committed`).toBeGreaterThanOrEqual(r.length);
      expect(sha(m!.text.slice(0, r.length)), `${context}: message ${r.messageId} lost committed text`).toBe(r.sha);
      if (r.done) {
        expect(m!.state, `${context}: message ${r.messageId}`).toBe('done');
        expect(m!.text.length, `${context}: finished message ${r.messageId} changed`).toBe(r.length);
      }
    }
  } finally {
    db.close();
  }
}

describe('crash safety', () => {
  it(`keeps every reported commit through ${CHAINS * RUNS_PER_CHAIN} SIGKILLs (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const chains = Array.from({ length: CHAINS }, (_, c) => {
      // Draw every chain's schedule up front so it does not depend on timing.
      const plan = Array.from({ length: RUNS_PER_CHAIN }, () => ({
        seed: Math.floor(random() * 2 ** 31),
        kill: random() < 0.2 ? { earlyMs: Math.floor(random() * 500), afterReadyMs: 0 } : { afterReadyMs: 20 + Math.floor(random() * 600) },
      }));
      return (async () => {
        const file = join(dir, `chain-${c}.db`);
        const all: Reported[] = [];
        const stats = { runs: 0, withCommits: 0, commits: 0, checkpoints: 0 };
        for (const [i, run] of plan.entries()) {
          const result = await runAndKill(file, `chain ${c}`, run.seed, run.kill);
          const context = `seed ${SEED}, chain ${c}, run ${i}`;
          expect(result.signal, `${context}: child ended by itself: ${result.stderr}`).toBe('SIGKILL');
          all.push(...result.reported);
          stats.runs++;
          stats.commits += result.reported.length;
          stats.checkpoints += result.checkpoints;
          if (result.reported.length > 0) stats.withCommits++;
          // Everything reported so far, this run's and earlier runs', must still be there.
          if (result.sawReady || i === plan.length - 1) verify(file, all, context);
        }
        return stats;
      })();
    });
    const stats = await Promise.all(chains);
    const runs = stats.reduce((n, s) => n + s.runs, 0);
    const withCommits = stats.reduce((n, s) => n + s.withCommits, 0);
    const commits = stats.reduce((n, s) => n + s.commits, 0);
    expect(runs).toBe(CHAINS * RUNS_PER_CHAIN);
    // The test only means something if most kills landed mid-stream.
    expect(withCommits).toBeGreaterThanOrEqual(Math.floor(runs / 2));
    expect(commits).toBeGreaterThan(100);
    // … and if the WAL was being checkpointed (in the worker thread) in some of them
    const checkpoints = stats.reduce((n, s) => n + s.checkpoints, 0);
    console.log(`crash safety: ${commits} commits, ${checkpoints} checkpoints reported before the kills`);
    expect(checkpoints).toBeGreaterThanOrEqual(10);

    // What a restart does: replies cut off mid-stream become 'stopped', and the text stays.
    const db = openDatabase(join(dir, 'chain-0.db'));
    const store = new Store(db);
    const before = store.listMessages(store.getSessionByName('chain 0')!.id).map((m) => m.text);
    const cutOff = db.prepare("SELECT id FROM messages WHERE state = 'streaming' ORDER BY id").pluck().all();
    const indexed = () => db.prepare('SELECT id FROM messages_fts_docsize ORDER BY id').pluck().all();
    expect(cutOff.length).toBeGreaterThan(0); // the search index leaves these out until they end…
    expect(indexed().filter((id) => cutOff.includes(id))).toEqual([]);
    expect(store.markInterruptedMessages()).toBe(cutOff.length);
    const after = store.listMessages(store.getSessionByName('chain 0')!.id);
    expect(after.map((m) => m.text)).toEqual(before);
    expect(after.every((m) => m.state === 'done' || m.state === 'stopped')).toBe(true);
    // … and the restart ends them: every message is in the index now, and it agrees with them
    expect(indexed()).toEqual(db.prepare('SELECT id FROM messages ORDER BY id').pluck().all());
    db.exec("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
    db.close();
  }, 60_000);
});
