import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { builtinModelDir } from '../models/builtin-model.js';
import { Model } from '../engine/model.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { PersistentChat } from './persistent-chat.js';

const CLI = ['--import', 'tsx', 'main/cli/run.ts'];

/** Polls `check` until it holds (the state a test waits on), or fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('mid-answer checkpoints', () => {
  it('a SIGKILL mid-answer resumes from the answer’s last checkpoint, re-reading only what came after it', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'perpetua-checkpoint-')), 'chat.db');
    const model = builtinModelDir();
    const child = spawn(process.execPath, [...CLI, 'generate', '--model', model, '--db', db, '--session', 'k', '--prompt', 'Once upon a time',
      '--ignore-eos', '--max-tokens', '1000000', '--policy', 'sink', '--sink', '4', '--window', '508'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    const exited = new Promise((r) => child.on('close', r));
    // a checkpoint of the streaming answer (every 256 tokens), and the answer going on past it
    const raw = () => new Database(db, { readonly: true, fileMustExist: true });
    const checkpointed = () => {
      try {
        const r = raw();
        try {
          return (r.prepare("SELECT count(*) AS n FROM snapshots s JOIN messages m ON m.id = s.message_id WHERE m.state = 'streaming'").get() as { n: number }).n > 0;
        } finally {
          r.close();
        }
      } catch {
        return false; // not created yet
      }
    };
    await until(checkpointed, 120_000, 'a checkpoint of the streaming answer');
    child.kill('SIGKILL');
    await exited;

    const store = new Store(openDatabase(db));
    const loaded = await Model.load(model);
    const chat = await PersistentChat.open(store, loaded, { name: 'k' });
    const answer = store.listMessages(chat.session.id).at(-1)!;
    expect(answer.role).toBe('assistant');
    expect(chat.restored).toMatchObject({ kind: 'resumed', refused: null, reread: 0 });
    // only the text after the checkpoint is read again (at most the tokens of one interval, and what streamed meanwhile)
    expect(chat.restored.rereadTokens).toBeLessThan(256 + 64);
    expect(chat.engine.policy.totalTokensSeen).toBeGreaterThan(256);
    // the cache goes on from the transcript: a next turn answers
    let text = '';
    for await (const ev of chat.send('And then?', { maxTokens: 8, ignoreEos: true })) if (ev.type === 'token') text += ev.text;
    expect(text.length).toBeGreaterThan(0);
    chat.close();
    store.db.close();
    await loaded.dispose();
  });
});
