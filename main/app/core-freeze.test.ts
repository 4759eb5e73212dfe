import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coreArgv } from '../api/shell-protocol.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';
import { CoreSupervisor, type CoreChildLike } from './core-supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-core-freeze-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The real core process (core-process.ts) in a plain Node child: its parent port and the window's port are carried
 * over the child's IPC channel. With `freezeOpening`, opening a chat spins the core's main loop forever, as a
 * hostile file once could.
 */
function coreChild(dbFile: string, freezeOpening: boolean): ChildProcess {
  const root = process.cwd();
  const code = `
    import { EventEmitter } from 'node:events';
    const port = Object.assign(new EventEmitter(), { start() {}, close() {}, postMessage: (data) => process.send({ to: 'port', data }) });
    process.parentPort = Object.assign(new EventEmitter(), { postMessage: (data) => process.send({ to: 'parent', data }) });
    // like Electron's ports, messages wait for their listener (the core is still loading its modules)
    const waiting = [];
    const deliver = () => {
      while (waiting.length) {
        const m = waiting[0];
        const target = m.to === 'port' ? port : process.parentPort;
        if (target.listenerCount('message') === 0) return void setTimeout(deliver, 20);
        waiting.shift();
        target.emit('message', m.to === 'port' ? { data: m.data } : { data: m.data, ports: [port] });
      }
    };
    process.on('message', (m) => { waiting.push(m); deliver(); });
    if (${freezeOpening}) {
      const { SessionAdmin } = await import(${JSON.stringify(join(root, 'main/core/session-admin.ts'))});
      SessionAdmin.prototype.open = function () { for (;;) {} };
    }
    await import(${JSON.stringify(join(root, 'main/core/core-process.ts'))});`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, '--', 'core-process', ...coreArgv({ dbFile, modelsDir: join(dir, 'models') })], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

describe('a core that freezes while it opens a chat', () => {
  it('is restarted with the chat and model named, the chat is not reopened by itself, and its mark outlives a restart of the app', async () => {
    const dbFile = join(dir, 'perpetua.db');
    const store = new Store(openDatabase(dbFile));
    const modelId = store.upsertModel({ name: 'SmolLM2-135M', dir: join(dir, 'gone'), fingerprint: 'f' }).id;
    const chat = store.createSession({ name: 'Notes', modelId, policy: 'sink', policyParams: {} });
    const other = store.createSession({ name: 'Other', modelId, policy: 'sink', policyParams: {} });
    store.db.close();

    const spawned: ChildProcess[] = [];
    const answers = new Map<number, unknown>();
    const restarts: { reason: string; frozenChatId?: string }[] = [];
    const sup = new CoreSupervisor<string>(
      {
        fork: () => {
          const child = coreChild(dbFile, spawned.length === 0);
          spawned.push(child);
          child.on('message', (m: { to: string; data: { id?: number; result?: unknown } }) => {
            if (m.to === 'port' && typeof m.data.id === 'number') answers.set(m.data.id, m.data.result);
          });
          return {
            pid: child.pid,
            postMessage: (data: unknown) => child.send({ to: 'parent', data }),
            on: (event: 'exit' | 'message', listener: (x: never) => void) =>
              event === 'exit'
                ? child.on('exit', listener as () => void)
                : child.on('message', (m: { to: string; data: unknown }) => m.to === 'parent' && (listener as (d: unknown) => void)(m.data)),
            kill: () => child.kill(),
          } as CoreChildLike;
        },
        createChannel: () => ({ core: 'core end', window: 'window end' }),
        log: () => {},
      },
      { heartbeatTimeoutMs: 6000 },
    );
    const ask = (id: number, method: string, params?: unknown) => spawned.at(-1)!.send({ to: 'port', data: { id, method, params } });
    const answer = async (id: number) => {
      while (!answers.has(id)) await new Promise((r) => setTimeout(r, 20));
      return answers.get(id);
    };
    sup.attach({ id: 1, isAlive: () => true, sendPort: () => {}, notifyRestarted: (reason, frozenChatId) => restarts.push({ reason, frozenChatId }), notifyFailed: () => {} });
    try {
      // the window opens the chat as soon as the core serves (before any periodic heartbeat), and the core freezes in it
      ask(2, 'sessions.open', { id: String(chat.id) });
      while (restarts.length === 0) await new Promise((r) => setTimeout(r, 50));
      expect(restarts[0].reason).toMatch(/^the engine stopped answering for \d+ s during sessions\.open in the chat "Notes" with the model SmolLM2-135M and was restarted$/);
      expect(restarts[0].frozenChatId).toBe(String(chat.id));
      expect(spawned[0].signalCode).toBe('SIGKILL');

      // the new core knows it too, from the database: the window asks it at its start
      ask(3, 'sessions.interrupted');
      expect(await answer(3)).toEqual([
        { sessionId: String(chat.id), chat: 'Notes', model: 'SmolLM2-135M', what: 'sessions.open in the chat "Notes" with the model SmolLM2-135M', at: expect.any(Number) },
      ]);
      // opening another chat (it fails: its model folder is gone; it ends either way) leaves the frozen one marked
      ask(4, 'sessions.open', { id: String(other.id) });
      await answer(4);
    } finally {
      sup.stop();
      await new Promise((r) => (spawned.at(-1)!.exitCode === null ? spawned.at(-1)!.once('exit', r) : r(null)));
      for (const c of spawned) c.kill('SIGKILL');
    }

    // a whole new start of the app (the engine quit on purpose before): the chat is still not to be reopened by itself
    const again = coreChild(dbFile, false);
    try {
      const got = new Promise((resolve) => again.on('message', (m: { to: string; data: { id?: number; result?: unknown } }) => m.to === 'port' && m.data.id === 5 && resolve(m.data.result)));
      again.send({ to: 'parent', data: { type: 'connect', connectionId: 1 } });
      again.send({ to: 'port', data: { id: 5, method: 'sessions.interrupted' } });
      expect(await got).toMatchObject([{ sessionId: String(chat.id), chat: 'Notes' }]);
    } finally {
      again.kill('SIGKILL');
    }
  }, 120_000);
});
