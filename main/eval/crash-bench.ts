import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { percentile } from './percentile.js';
import { PersistentChat } from '../core/persistent-chat.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';

export interface CrashBenchResult {
  runs: number;
  /** runs whose database failed PRAGMA integrity_check or could not be read */
  corrupt: number;
  /** runs where the stored answer was not a prefix of what the user saw */
  notPrefix: number;
  /** runs where the finished first turn changed */
  lostFinishedTurn: number;
  /** characters shown but not yet committed when the process died (p50, p90, max) */
  lostChars: { p50: number; p90: number; max: number };
  /** age at the kill of the oldest shown text that was not committed (p50, p90, max) */
  lostSeconds: { p50: number; p90: number; max: number };
  /** tokens each reopen read again beyond the snapshot it resumed from (p50, p90, max) */
  rereadTokens: { p50: number; p90: number; max: number };
  /** reopens that resumed from a snapshot (a checkpoint of the killed answer, or the turn before) */
  resumed: number;
  /** tokens of the killed answer as stored: what a reopen without checkpoints reads again (p50, p90, max) */
  answerTokens: { p50: number; p90: number; max: number };
}

/**
 * Kills `perpetua generate --db … --session …` with SIGKILL at random moments while it streams, and checks
 * each database: readable, intact, the finished turn untouched, the killed answer a prefix of what was shown; then
 * reopens it and counts the tokens read again beyond the snapshot it resumed from.
 */
export async function benchCrash(
  cliEntry: string,
  modelDir: string,
  runs: number,
  onRun?: (i: number) => void,
  opts: { maxWaitMs?: number } = {},
): Promise<CrashBenchResult> {
  const model = await Model.load(modelDir);
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-crash-bench-'));
  const seed = join(dir, 'seed.db');
  const cli = (args: string[]) => spawn(process.execPath, [cliEntry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const p = cli(['generate', '--model', modelDir, '--db', seed, '--session', 'k', '--prompt', 'Day one.', '--max-tokens', '20']);
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) => (code === 0 ? resolve(out.replace(/\n$/, '')) : reject(new Error(`set-up run exited with ${code}`))));
    });
    const none = { p50: 0, p90: 0, max: 0 };
    const result: CrashBenchResult = { runs, corrupt: 0, notPrefix: 0, lostFinishedTurn: 0, lostChars: none, lostSeconds: none, rereadTokens: none, resumed: 0, answerTokens: none };
    const lostChars: number[] = [];
    const lostSeconds: number[] = [];
    const rereadTokens: number[] = [];
    const answerTokens: number[] = [];
    for (let i = 0; i < runs; i++) {
      const db = join(dir, `run-${i}.db`);
      copyFileSync(seed, db);
      const child = cli(['generate', '--model', modelDir, '--db', db, '--session', 'k', '--ignore-eos', '--max-tokens', '100000000', '--temperature', '1', '--seed', String(i)]);
      let printed = '';
      // when each piece of text was shown (stdout to a pipe is written synchronously)
      const shown: { end: number; at: number }[] = [];
      child.stdout.on('data', (d) => {
        printed += d;
        shown.push({ end: printed.length, at: performance.now() });
      });
      await new Promise((r) => child.stdout.once('data', r));
      await new Promise((r) => setTimeout(r, Math.random() * (opts.maxWaitMs ?? 3000)));
      const killedAt = performance.now();
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      try {
        const raw = new Database(db, { readonly: true });
        const ok = raw.pragma('integrity_check', { simple: true }) === 'ok';
        const rows = raw.prepare('SELECT role, text FROM messages ORDER BY seq').all() as { role: string; text: string }[];
        raw.close();
        if (!ok) result.corrupt++;
        if (rows[1]?.text !== first) result.lostFinishedTurn++;
        const stored = rows[2]?.text ?? '';
        if (!printed.startsWith(stored)) result.notPrefix++;
        lostChars.push(printed.length - stored.length);
        answerTokens.push(model.tokenizer.encode(stored, false).length);
        // age of the oldest shown character that was not on disk at the kill
        const firstLost = shown.find((p) => p.end > stored.length && p.at <= killedAt);
        lostSeconds.push(firstLost ? (killedAt - firstLost.at) / 1000 : 0);
        // the reopen: what it read again beyond its snapshot (a checkpoint of the killed answer spares most of it)
        const store = new Store(openDatabase(db));
        try {
          const chat = await PersistentChat.open(store, model, { name: 'k' });
          rereadTokens.push(chat.restored.rereadTokens ?? 0);
          if (chat.restored.kind === 'resumed') result.resumed++;
          chat.close();
        } finally {
          store.db.close();
        }
      } catch {
        result.corrupt++;
      }
      rmSync(db, { force: true });
      onRun?.(i + 1);
    }
    const summary = (xs: number[]) => ({ p50: percentile(xs, 0.5), p90: percentile(xs, 0.9), max: Math.max(...xs) });
    result.lostChars = summary(lostChars);
    result.lostSeconds = summary(lostSeconds);
    result.rereadTokens = summary(rereadTokens);
    result.answerTokens = summary(answerTokens);
    return result;
  } finally {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
