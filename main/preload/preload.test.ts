import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiRouter } from '../core/api-router.js';
import { IPC_CORE_RESTARTED, IPC_HELLO, IPC_PICK_FOLDER, IPC_PORT, IPC_THEME } from '../api/shell-protocol.js';
import type { PerpetuaApi, PerpetuaBridge, PerpetuaEventListener } from '../api/perpetua-api.js';

const exposed: Record<string, unknown> = {};
const picks: unknown[] = ['/home/me/models/Tiny', { path: '/etc' }, null];
const ipc = Object.assign(new EventEmitter(), { send: vi.fn(), invoke: vi.fn(async () => picks.shift()) });

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, value: unknown) => (exposed[key] = value) },
  ipcRenderer: ipc,
}));

describe('preload', () => {
  const listeners = new Set<PerpetuaEventListener>();
  let release: (() => void) | null = null;
  const api = {
    sessionsList: async () => [],
    chatStop: () => new Promise<void>((r) => (release = r)),
    subscribe: (l: PerpetuaEventListener) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  } as unknown as PerpetuaApi;
  const channels: MessageChannel[] = [];

  function connectCore() {
    const ch = new MessageChannel();
    channels.push(ch);
    const router = createApiRouter(api, (m) => ch.port2.postMessage(m));
    ch.port2.onmessage = (e) => void router.handle(e.data);
    ipc.emit(IPC_PORT, { ports: [ch.port1] });
  }

  // the page's DOM, as much of it as the theme report uses
  const page = {
    loaded: [] as (() => void)[],
    observers: [] as (() => void)[],
    root: { dataset: { theme: 'light' } as Record<string, string | undefined> },
  };

  beforeAll(async () => {
    Object.assign(globalThis, {
      addEventListener: (type: string, fn: () => void) => type === 'DOMContentLoaded' && page.loaded.push(fn),
      document: { documentElement: page.root },
      MutationObserver: class {
        constructor(readonly cb: () => void) {}
        observe() {
          page.observers.push(this.cb);
        }
      },
    });
    await import('./preload.js');
  });
  afterAll(() => channels.forEach((c) => (c.port1.close(), c.port2.close())));

  it('asks the shell for a port and exposes only window.perpetua', () => {
    expect(ipc.send).toHaveBeenCalledWith(IPC_HELLO);
    expect(Object.keys(exposed)).toEqual(['perpetua']);
    const p = exposed.perpetua as Record<string, unknown>;
    expect(typeof p.chatSend).toBe('function');
    expect(typeof p.on).toBe('function');
    expect('subscribe' in p).toBe(false);
  });

  it('asks the shell for a folder and passes on only a path or null', async () => {
    const p = exposed.perpetua as PerpetuaBridge;
    expect(await p.pickFolder()).toBe('/home/me/models/Tiny');
    expect(await p.pickFolder()).toBeNull(); // not a path: dropped
    expect(await p.pickFolder()).toBeNull(); // cancelled
    expect(ipc.invoke).toHaveBeenCalledWith(IPC_PICK_FOLDER);
  });

  it('queues calls until the port arrives, then talks to the core over it', async () => {
    const p = exposed.perpetua as PerpetuaBridge;
    const pending = p.sessionsList();
    connectCore();
    await expect(pending).resolves.toEqual([]);
  });

  it('validates params before they leave the renderer', async () => {
    const p = exposed.perpetua as PerpetuaBridge;
    await expect(p.chatSend({ sessionId: 's', text: 'x'.repeat(10 * 1024 * 1024 + 1) }, () => {}).closed).rejects.toThrow(/larger than 10 MB/);
    await expect(p.policySet({ sessionId: 's', policy: { name: 'lru' } } as never, () => {}).closed).rejects.toThrow(/policy/);
  });

  it('delivers events and, on a core restart, fails pending calls and emits coreRestarted', async () => {
    const p = exposed.perpetua as PerpetuaBridge;
    const got: string[] = [];
    p.on('error', (e) => got.push(e.message));
    p.on('coreRestarted', (e) => got.push(`restarted: ${e.reason}`));
    listeners.forEach((l) => l({ event: 'error', payload: { message: 'hello' } }));
    await new Promise((r) => setTimeout(r, 20));
    const hanging = p.chatStop({ sessionId: 's' });
    await new Promise((r) => setTimeout(r, 20));
    ipc.emit(IPC_CORE_RESTARTED, {}, { reason: 'the core process exited with code 139' });
    await expect(hanging).rejects.toThrow(/restarted/);
    expect(got).toEqual(['hello', 'restarted: the core process exited with code 139']);
    release?.();
    // a fresh port after the restart works
    connectCore();
    await expect(p.sessionsList()).resolves.toEqual([]);
  });

  it("reports the page's theme once loaded and when it changes, nothing else", () => {
    ipc.send.mockClear();
    page.loaded.forEach((fn) => fn());
    expect(ipc.send.mock.calls).toEqual([[IPC_THEME, 'light']]);
    page.root.dataset.theme = 'dark';
    page.observers.forEach((fn) => fn());
    page.root.dataset.theme = 'neon';
    page.observers.forEach((fn) => fn());
    expect(ipc.send.mock.calls).toEqual([
      [IPC_THEME, 'light'],
      [IPC_THEME, 'dark'],
    ]);
  });

  it('ignores malformed restart notices', () => {
    expect(() => ipc.emit(IPC_CORE_RESTARTED, {}, { reason: 42 })).not.toThrow();
  });
});
