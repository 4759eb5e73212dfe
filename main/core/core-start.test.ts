import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CoreStatusMessage } from '../api/shell-protocol.js';
import { openDatabase } from '../store/database.js';
import { MIGRATIONS } from '../store/migrations.js';
import { NativeModuleError } from '../store/native-binding.js';
import { startCore, type CoreLoader } from './core-start.js';
import type { ParentPortLike } from './message-port-host.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-core-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeParentPort() {
  const posted: CoreStatusMessage[] = [];
  const port: ParentPortLike = { on: () => port, postMessage: (m) => posted.push(m) };
  return { port, posted };
}

const argv = [`--db=${join(dir, 'chats.db')}`, `--models=${join(dir, 'models')}`];

describe('core start-up', () => {
  it('posts a fatal message when a module of the core throws while it is imported', async () => {
    const broken = join(dir, 'broken-module.mjs');
    writeFileSync(broken, "throw new Error('better_sqlite3.node was compiled against a different Node.js version');\n");
    const load: CoreLoader = () => import(pathToFileURL(broken).href);
    const { port, posted } = fakeParentPort();
    expect(await startCore(port, argv, load)).toBeNull();
    expect(posted).toEqual([
      { type: 'fatal', message: 'The engine could not start: better_sqlite3.node was compiled against a different Node.js version' },
    ]);
  });

  it('passes our one-sentence errors through unchanged', async () => {
    const sentence = 'The SQLite module for Electron 45.5.0 (ABI 150, linux-x64) is missing (x); run `npm run native:electron` to build it.';
    const load: CoreLoader = () => Promise.reject(new NativeModuleError(sentence, 'x', process as never));
    const { port, posted } = fakeParentPort();
    await startCore(port, argv, load);
    expect(posted).toEqual([{ type: 'fatal', message: sentence }]);
  });

  it('reports bad arguments as fatal too', async () => {
    const { port, posted } = fakeParentPort();
    expect(await startCore(port, ['--db=x'])).toBeNull();
    expect(posted[0]).toMatchObject({ type: 'fatal', message: expect.stringContaining('--models=DIR') });
  });

  it('upgrades an older database first and tells the shell how far the new search index is', async () => {
    const old = join(dir, 'old.db');
    const v4 = openDatabase(old, { migrations: MIGRATIONS.slice(0, 4) });
    v4.exec(`INSERT INTO models (id, name, dir, fingerprint, created_at) VALUES (1, 'm', '/m', 'fp', 0);
             INSERT INTO sessions (id, name, model_id, policy, created_at, updated_at) VALUES (1, 'old', 1, 'sink', 0, 0);`);
    const insert = v4.prepare("INSERT INTO messages (session_id, seq, role, text, state, created_at, updated_at) VALUES (1, ?, 'user', ?, 'done', 0, 0)");
    v4.transaction(() => {
      for (let i = 1; i <= 3000; i++) insert.run(i, `第${i}条消息 message ${i}`);
    })();
    v4.close();
    const { port, posted } = fakeParentPort();
    const core = await startCore(port, [`--db=${old}`, `--models=${join(dir, 'models')}`]);
    expect(core).not.toBeNull();
    // the trigram index (migration 5), then the index built again over the finished messages (migration 12)
    const progress = (step: string) => [
      { type: 'migrating', step, done: 0, total: 3000 },
      { type: 'migrating', step, done: 2000, total: 3000 },
      { type: 'migrating', step, done: 3000, total: 3000 },
    ];
    expect(posted).toEqual([...progress(MIGRATIONS[4]!.name), ...progress(MIGRATIONS[11]!.name), { type: 'ready' }]);
    await core!.close();
  });

  it('starts the real core, says ready, and closes', async () => {
    const { port, posted } = fakeParentPort();
    const core = await startCore(port, argv);
    expect(core).not.toBeNull();
    expect(posted).toEqual([{ type: 'ready' }]);
    await core!.close();
  });
});
