/**
 * Smoke test of the Electron shell's wiring with a stand-in `electron` module (the Electron binary cannot
 * run here): window preferences, the sender check, the port relay, and the restart after a core crash.
 */
import { describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IPC_CORE_RESTARTED, IPC_HELLO, IPC_PICK_FILE, IPC_PICK_FOLDER, IPC_PORT, IPC_THEME } from '../api/shell-protocol.js';
import { APP_CSP } from './security.js';

const h = await vi.hoisted(async () => {
  const { EventEmitter } = await import('node:events');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const userData = mkdtempSync(join(tmpdir(), 'perpetua-user-data-'));
  // last run ended in the light theme
  writeFileSync(join(userData, 'appearance.json'), '{"theme":"light"}');
  const protocolCalls: { privileged: unknown[]; handled: Record<string, (r: Request) => Promise<Response>> } = { privileged: [], handled: {} };
  const menus: unknown[] = [];
  const app = Object.assign(new EventEmitter(), {
    isPackaged: false,
    enableSandbox: () => {},
    requestSingleInstanceLock: () => true,
    setPath: () => {},
    getPath: () => userData,
    getPreferredSystemLanguages: () => ['zh-Hant-TW', 'en-US'],
    whenReady: () => Promise.resolve(),
    quit: () => {},
  });
  const handlers: Record<string, (event: unknown) => Promise<unknown>> = {};
  const ipcMain = Object.assign(new EventEmitter(), { handle: (channel: string, fn: (event: unknown) => Promise<unknown>) => (handlers[channel] = fn) });
  const dialogCalls: unknown[] = [];
  const windows: FakeWindow[] = [];
  const children: FakeChild[] = [];
  const sessionCalls: Record<string, unknown> = {};

  class FakeChild extends EventEmitter {
    posted: { message: unknown; transfer?: unknown[] }[] = [];
    constructor(
      readonly modulePath: string,
      readonly args: string[],
    ) {
      super();
    }
    postMessage(message: unknown, transfer?: unknown[]) {
      this.posted.push({ message, transfer });
    }
    kill() {
      return true;
    }
  }

  class FakeWebContents extends EventEmitter {
    static nextId = 1;
    id = FakeWebContents.nextId++;
    mainFrame = { url: '' };
    posted: { channel: string; ports?: unknown[] }[] = [];
    sent: { channel: string; payload: unknown }[] = [];
    openHandler: (() => unknown) | null = null;
    isDestroyed() {
      return false;
    }
    postMessage(channel: string, _msg: unknown, ports?: unknown[]) {
      this.posted.push({ channel, ports });
    }
    send(channel: string, payload: unknown) {
      this.sent.push({ channel, payload });
    }
    setWindowOpenHandler(fn: () => unknown) {
      this.openHandler = fn;
    }
  }

  class FakeWindow extends EventEmitter {
    webContents = new FakeWebContents();
    url = '';
    backgrounds: string[] = [];
    setBackgroundColor(c: string) {
      this.backgrounds.push(c);
    }
    constructor(readonly options: { webPreferences: Record<string, unknown> }) {
      super();
      windows.push(this);
      app.emit('web-contents-created', {}, this.webContents);
    }
    static getAllWindows() {
      return windows;
    }
    loadURL(url: string) {
      this.url = url;
      this.webContents.mainFrame.url = url;
      return Promise.resolve();
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus() {}
  }

  let channel = 0;
  const electron = {
    app,
    ipcMain,
    dialog: {
      showOpenDialog: (_w: unknown, options: unknown) => {
        dialogCalls.push(options);
        return Promise.resolve({ canceled: false, filePaths: ['/home/me/models/SmolLM2-135M-Instruct'] });
      },
    },
    BrowserWindow: FakeWindow,
    Menu: { setApplicationMenu: (m: unknown) => menus.push(m), buildFromTemplate: (t: unknown) => ({ template: t }) },
    nativeTheme: { shouldUseDarkColors: true },
    net: { fetch: () => Promise.reject(new Error('no files in this test')) },
    shell: { openPath: () => Promise.resolve('') },
    protocol: { registerSchemesAsPrivileged: (s: unknown[]) => protocolCalls.privileged.push(...s) },
    MessageChannelMain: class {
      port1 = `core-port-${++channel}`;
      port2 = `window-port-${channel}`;
    },
    utilityProcess: {
      fork: (modulePath: string, args: string[]) => {
        const c = new FakeChild(modulePath, args);
        children.push(c);
        return c;
      },
    },
    session: {
      defaultSession: {
        protocol: { handle: (scheme: string, fn: (r: Request) => Promise<Response>) => (protocolCalls.handled[scheme] = fn) },
        setPermissionRequestHandler: (fn: unknown) => (sessionCalls.permission = fn),
        setPermissionCheckHandler: (fn: unknown) => (sessionCalls.check = fn),
        webRequest: {
          onBeforeRequest: (fn: unknown) => (sessionCalls.before = fn),
          onHeadersReceived: (fn: unknown) => (sessionCalls.headers = fn),
        },
      },
    },
  };
  return { electron, windows, children, sessionCalls, ipcMain, protocolCalls, menus, userData, handlers, dialogCalls };
});

vi.mock('electron', () => ({ ...h.electron, default: h.electron }));

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('Electron shell (stand-in electron)', () => {
  it('opens one hardened window, relays a port from the core, and restarts the core after a crash', async () => {
    await import('./main.js');
    await tick();

    // one window, locked down
    expect(h.windows).toHaveLength(1);
    const win = h.windows[0];
    const prefs = win.options.webPreferences;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webviewTag: false });
    expect(String(prefs.preload)).toMatch(/preload[\\/]preload\.cjs$/);
    // the OS's languages reach the page (the preload reads them off this switch)
    expect(prefs.additionalArguments).toEqual(['--perpetua-languages=zh-Hant-TW,en-US']);
    // served from app://perpetua/, in the saved theme's background (not the system's dark one)
    expect(win.url).toBe('app://perpetua/index.html');
    expect(h.protocolCalls.privileged).toEqual([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
    expect(Object.keys(h.protocolCalls.handled)).toEqual(['app']);
    expect((await h.protocolCalls.handled.app(new Request('app://evil/index.html'))).status).toBe(404);
    expect((win.options as { backgroundColor?: string }).backgroundColor).toBe('#fbfaf8');
    // a menu on every platform (here: Linux/Windows layout with DevTools, since not packaged)
    const template = (h.menus[0] as { template: { role?: string; label?: string }[] }).template;
    expect(template.map((m) => m.role ?? m.label)).toEqual(
      process.platform === 'darwin' ? ['appMenu', 'fileMenu', 'editMenu', 'View', 'windowMenu', 'help'] : ['fileMenu', 'editMenu', 'View', 'windowMenu', 'help'],
    );
    expect(win.webContents.openHandler?.()).toEqual({ action: 'deny' });
    let prevented = false;
    win.webContents.emit('will-navigate', { preventDefault: () => (prevented = true) }, 'https://example.com');
    expect(prevented).toBe(true);

    // the session: no permissions, CSP header
    let granted: boolean | undefined;
    (h.sessionCalls.permission as (a: unknown, b: string, cb: (x: boolean) => void) => void)(null, 'camera', (x) => (granted = x));
    expect(granted).toBe(false);
    let headers: Record<string, string[]> = {};
    (h.sessionCalls.headers as (d: object, cb: (r: { responseHeaders: Record<string, string[]> }) => void) => void)({ responseHeaders: {} }, (r) => (headers = r.responseHeaders));
    expect(headers['Content-Security-Policy']).toEqual([APP_CSP]);

    // the core is forked as a utility process with its database, models folder and a writable download folder
    expect(h.children).toHaveLength(1);
    expect(h.children[0].modulePath).toMatch(/core[\\/]core-process\.js$/);
    expect(h.children[0].args.some((a) => a.startsWith('--db='))).toBe(true);
    expect(h.children[0].args).toContain(`--downloads=${join(h.userData, 'models')}`);

    // the folder picker answers only our page, with the folder the dialog returned
    const pick = h.handlers[IPC_PICK_FOLDER];
    expect(await pick({ sender: win.webContents, senderFrame: { url: 'file:///tmp/evil.html' } })).toBeNull();
    expect(h.dialogCalls).toHaveLength(0);
    expect(await pick({ sender: win.webContents, senderFrame: win.webContents.mainFrame })).toBe('/home/me/models/SmolLM2-135M-Instruct');
    expect(h.dialogCalls).toEqual([{ title: 'Import a model folder', properties: ['openDirectory'] }]);
    // the file picker (conversations to import) too
    const pickFile = h.handlers[IPC_PICK_FILE];
    expect(await pickFile({ sender: win.webContents, senderFrame: { url: 'file:///tmp/evil.html' } })).toBeNull();
    expect(h.dialogCalls).toHaveLength(1);
    expect(await pickFile({ sender: win.webContents, senderFrame: win.webContents.mainFrame })).toBe('/home/me/models/SmolLM2-135M-Instruct');
    expect(h.dialogCalls[1]).toMatchObject({ title: 'Import conversations', properties: ['openFile'] });

    // a hello from a foreign page is ignored
    h.ipcMain.emit(IPC_HELLO, { sender: win.webContents, senderFrame: { url: 'file:///tmp/evil.html' } });
    h.ipcMain.emit(IPC_THEME, { sender: win.webContents, senderFrame: { url: 'file:///tmp/evil.html' } }, 'dark');
    expect(win.backgrounds).toEqual([]);
    expect(win.webContents.posted).toHaveLength(0);

    // a hello from the app page gets a port; the core gets the other end
    h.ipcMain.emit(IPC_HELLO, { sender: win.webContents, senderFrame: win.webContents.mainFrame });
    expect(win.webContents.posted).toEqual([{ channel: IPC_PORT, ports: ['window-port-1'] }]);
    expect(h.children[0].posted).toEqual([{ message: { type: 'connect', connectionId: 1 }, transfer: ['core-port-1'] }]);

    // the page switches to the dark theme: the window follows, and the next start opens dark
    h.ipcMain.emit(IPC_THEME, { sender: win.webContents, senderFrame: win.webContents.mainFrame }, 'dark');
    h.ipcMain.emit(IPC_THEME, { sender: win.webContents, senderFrame: win.webContents.mainFrame }, 'neon');
    expect(win.backgrounds).toEqual(['#141518']);
    expect(readFileSync(join(h.userData, 'appearance.json'), 'utf8')).toBe('{"theme":"dark"}\n');

    // the core dies: a new one is forked, the window is told and gets a new port
    h.children[0].emit('exit', 139);
    await tick();
    expect(h.children).toHaveLength(2);
    expect(win.webContents.sent).toEqual([{ channel: IPC_CORE_RESTARTED, payload: { reason: 'the core process exited with code 139' } }]);
    expect(win.webContents.posted.at(-1)).toEqual({ channel: IPC_PORT, ports: ['window-port-2'] });
    expect(h.children[1].posted[0].transfer).toEqual(['core-port-2']);
  });
});
