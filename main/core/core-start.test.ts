import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CoreStatusMessage } from '../api/shell-protocol.js';
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

  it('starts the real core, says ready, and closes', async () => {
    const { port, posted } = fakeParentPort();
    const core = await startCore(port, argv);
    expect(core).not.toBeNull();
    expect(posted).toEqual([{ type: 'ready' }]);
    await core!.close();
  });
});
