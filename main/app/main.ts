/**
 * Electron main process: one window, the core in a utilityProcess, a MessagePort between them, the page
 * served from app://perpetua/. Thin on purpose: everything else runs (and is tested) without Electron.
 */
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  MessageChannelMain,
  nativeTheme,
  net,
  protocol,
  session,
  shell,
  utilityProcess,
  type MessagePortMain,
} from 'electron';
import { join } from 'node:path';
import {
  coreArgv,
  IPC_CORE_FAILED,
  IPC_CORE_MIGRATING,
  IPC_CORE_RESTARTED,
  IPC_HELLO,
  IPC_LOCAL_SERVER,
  IPC_PICK_FILE,
  IPC_PICK_FOLDER,
  IPC_PORT,
  IPC_THEME,
  languagesSwitch,
  LocalServerRequestSchema,
  ThemeSchema,
} from '../api/shell-protocol.js';
import { appMenuTemplate } from './app-menu.js';
import { APP_PAGE_URL, APP_SCHEME, APP_SCHEME_PRIVILEGES, appProtocolHandler } from './app-protocol.js';
import { CoreSupervisor, type CoreClient } from './core-supervisor.js';
import { LocalServer } from './local-server.js';
import { createPortClient } from './port-client.js';
import { installBuiltinModel } from '../models/builtin-model.js';
import { builtinModelSource, coreEntry, preloadScript, rendererDir } from './paths.js';
import { sandboxNotice } from './sandbox-notice.js';
import { hardenContents, hardenSession, isTrustedSender } from './security.js';
import { readSavedTheme, saveTheme, windowBackground } from './window-theme.js';

const rendererUrl = APP_PAGE_URL;

app.enableSandbox();
// A separate profile (the packaged smoke test runs the app twice in a fresh one).
if (process.env.PERPETUA_USER_DATA) app.setPath('userData', process.env.PERPETUA_USER_DATA);
protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
const notice = sandboxNotice(process.env, process.argv);
if (notice) console.warn(`[main] ${notice}`);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void main();
}

async function main(): Promise<void> {
  let window: BrowserWindow | null = null;

  const userData = app.getPath('userData');
  // Model folders in here ($PERPETUA_MODELS_DIR, else <userData>/models) are imported at start; others are
  // imported by path from the model manager. The built-in model is copied in on first run, so a new user can chat
  // before downloading anything.
  const modelsDir = process.env.PERPETUA_MODELS_DIR || join(userData, 'models');
  try {
    const result = installBuiltinModel(builtinModelSource(process.resourcesPath, app.isPackaged), modelsDir);
    if (result !== 'present') console.log(`[main] Built-in model: ${result} in ${modelsDir}.`);
  } catch (e) {
    console.error(`[main] Could not copy the built-in model into ${modelsDir}: ${(e as Error).message}`);
  }
  // Downloads and conversions land in the same folder: the user's own, writable.
  const downloadDir = modelsDir;

  const supervisor = new CoreSupervisor<MessagePortMain>({
    fork: () =>
      utilityProcess.fork(
        coreEntry,
        coreArgv({ dbFile: join(userData, 'perpetua.db'), modelsDir, downloadDir }),
        { serviceName: 'Perpetua core', stdio: 'inherit' },
      ),
    createChannel: () => {
      const { port1, port2 } = new MessageChannelMain();
      return { core: port1, window: port2 };
    },
  });

  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });

  app.on('web-contents-created', (_e, contents) => hardenContents(contents, rendererUrl));

  /** IPC is taken only from our window's main frame while it shows the app page. */
  const fromOurWindow = (event: Electron.IpcMainEvent | Electron.IpcMainInvokeEvent): boolean =>
    !!window && event.sender === window.webContents && isTrustedSender(event.senderFrame, event.sender, rendererUrl);

  const appearanceFile = join(userData, 'appearance.json');
  ipcMain.on(IPC_THEME, (event, payload: unknown) => {
    const theme = ThemeSchema.safeParse(payload);
    if (!window || !fromOurWindow(event) || !theme.success) return;
    window.setBackgroundColor(windowBackground(theme.data, nativeTheme.shouldUseDarkColors));
    try {
      if (readSavedTheme(appearanceFile) !== theme.data) saveTheme(appearanceFile, theme.data);
    } catch (err) {
      console.warn(`[main] The theme could not be remembered in ${appearanceFile}: ${(err as Error).message}`);
    }
  });

  // The picked path goes to the core's models.import, which validates it like any typed path.
  ipcMain.handle(IPC_PICK_FOLDER, async (event) => {
    if (!window || !fromOurWindow(event)) return null;
    const picked = await dialog.showOpenDialog(window, { title: 'Import a model folder', properties: ['openDirectory'] });
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  });

  // The picked file goes to the core's sessions.import, which reads it bounded like any typed path.
  ipcMain.handle(IPC_PICK_FILE, async (event) => {
    if (!window || !fromOurWindow(event)) return null;
    const picked = await dialog.showOpenDialog(window, {
      title: 'Import conversations',
      properties: ['openFile'],
      filters: [{ name: 'Conversations (ChatGPT conversations.json, Perpetua export)', extensions: ['json', 'jsonl'] }],
    });
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  });

  // The OpenAI-compatible server runs here, a client of the core like the window (connected when first switched on).
  let serverClient: ReturnType<typeof createPortClient<MessagePortMain>> | null = null;
  const serverApi = () => {
    if (!serverClient) {
      serverClient = createPortClient<MessagePortMain>(-1);
      supervisor.attach(serverClient.coreClient);
    }
    return serverClient.bridge;
  };
  const localServer = new LocalServer(serverApi, join(userData, 'local-server.json'), (line) => console.log(`[serve] ${line}`));
  ipcMain.handle(IPC_LOCAL_SERVER, async (event, payload: unknown) => {
    const request = LocalServerRequestSchema.safeParse(payload);
    if (!fromOurWindow(event) || !request.success) return null;
    return localServer.handle(request.data);
  });

  ipcMain.on(IPC_HELLO, (event) => {
    if (!fromOurWindow(event)) {
      console.warn(`[main] Ignored ${IPC_HELLO} from an untrusted sender (${event.senderFrame?.url ?? 'no frame'}).`);
      return;
    }
    supervisor.attach(clientFor(event.sender));
  });

  function clientFor(contents: Electron.WebContents): CoreClient<MessagePortMain> {
    return {
      id: contents.id,
      isAlive: () => !contents.isDestroyed(),
      sendPort: (port) => contents.postMessage(IPC_PORT, null, [port]),
      notifyRestarted: (reason, frozenChatId) => contents.send(IPC_CORE_RESTARTED, { reason, ...(frozenChatId ? { frozenChatId } : {}) }),
      notifyFailed: (message) => contents.send(IPC_CORE_FAILED, { message }),
      notifyMigrating: (progress) => contents.send(IPC_CORE_MIGRATING, progress),
    };
  }

  await app.whenReady();
  session.defaultSession.protocol.handle(APP_SCHEME, appProtocolHandler(rendererDir, (url) => net.fetch(url)));
  hardenSession(session.defaultSession);
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      appMenuTemplate({ platform: process.platform, development: !app.isPackaged, showDataFolder: () => void shell.openPath(userData) }),
    ),
  );
  supervisor.start();
  void localServer.restore();

  const createWindow = () => {
    const win = new BrowserWindow({
      width: 1280,
      height: 840,
      minWidth: 720,
      minHeight: 480,
      title: 'Perpetua',
      show: false,
      // the page's theme from the last run, so the first paint does not flash the other one
      backgroundColor: windowBackground(readSavedTheme(appearanceFile), nativeTheme.shouldUseDarkColors),
      webPreferences: {
        preload: preloadScript,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        webviewTag: false,
        spellcheck: false,
        devTools: !app.isPackaged,
        // the interface follows the OS's languages from the first paint (renderer/src/i18n)
        additionalArguments: [languagesSwitch(app.getPreferredSystemLanguages())],
      },
    });
    win.once('ready-to-show', () => win.show());
    const id = win.webContents.id;
    win.on('closed', () => {
      supervisor.detach(id);
      if (window === win) window = null;
    });
    void win.loadURL(rendererUrl);
    window = win;
  };

  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('before-quit', () => {
    void localServer.close();
    supervisor.stop();
  });
}
