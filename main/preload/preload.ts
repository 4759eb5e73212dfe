/**
 * Preload (sandboxed, context-isolated): exposes `window.perpetua` — the typed, zod-validated API client —
 * (plus the shell's folder picker) and nothing else. Requests go straight to the core over a MessagePort the shell hands over; the shell
 * only tells us about core restarts. Bundled to dist/preload/preload.cjs (sandboxed preloads cannot import).
 */
import '../api/zod-no-eval.js';
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { createApiClient } from '../api/api-client.js';
import type { ClientEnvelope } from '../api/envelope.js';
import {
  CoreFailedPayloadSchema,
  CoreMigratingPayloadSchema,
  CoreRestartedPayloadSchema,
  IPC_CORE_FAILED,
  IPC_CORE_MIGRATING,
  IPC_CORE_RESTARTED,
  IPC_HELLO,
  IPC_LOCAL_SERVER,
  IPC_PICK_FILE,
  IPC_PICK_FOLDER,
  IPC_PORT,
  IPC_THEME,
  LocalServerRequestSchema,
  LocalServerStatusSchema,
  parseLanguagesSwitch,
  PickedFolderSchema,
  type LocalServerRequest,
  type LocalServerStatus,
} from '../api/shell-protocol.js';
import type { PerpetuaBridge } from '../api/perpetua-api.js';
import { reportThemeChanges, type ThemePage } from './theme-report.js';

type RendererPort = IpcRendererEvent['ports'][number];

let port: RendererPort | null = null;
let queue: ClientEnvelope[] = [];

const client = createApiClient({
  send(request) {
    if (port) port.postMessage(request);
    else queue.push(request);
  },
});

// Only the main process can send to ipcRenderer (renderer-to-renderer sendTo no longer exists), but
// payloads are still validated.
ipcRenderer.on(IPC_PORT, (event) => {
  const next = event.ports[0];
  if (!next) return;
  port?.close();
  port = next;
  port.onmessage = (e: { data: unknown }) => client.receive(e.data);
  port.start();
  const q = queue;
  queue = [];
  for (const r of q) port.postMessage(r);
});

ipcRenderer.on(IPC_CORE_RESTARTED, (_event, payload: unknown) => {
  const p = CoreRestartedPayloadSchema.safeParse(payload);
  if (!p.success) return;
  port?.close();
  port = null;
  client.failPending(`The engine restarted (${p.data.reason}); try again.`);
  client.emit('coreRestarted', p.data);
});

ipcRenderer.on(IPC_CORE_FAILED, (_event, payload: unknown) => {
  const p = CoreFailedPayloadSchema.safeParse(payload);
  if (!p.success) return;
  client.failPending(p.data.message);
  client.emit('error', { message: p.data.message });
});

ipcRenderer.on(IPC_CORE_MIGRATING, (_event, payload: unknown) => {
  const p = CoreMigratingPayloadSchema.safeParse(payload);
  if (p.success) client.emit('migration', p.data);
});

ipcRenderer.send(IPC_HELLO);

reportThemeChanges(globalThis as unknown as ThemePage, (theme) => ipcRenderer.send(IPC_THEME, theme));

async function pickFolder(): Promise<string | null> {
  const picked = PickedFolderSchema.safeParse(await ipcRenderer.invoke(IPC_PICK_FOLDER));
  return picked.success ? picked.data : null;
}

async function pickFile(): Promise<string | null> {
  const picked = PickedFolderSchema.safeParse(await ipcRenderer.invoke(IPC_PICK_FILE));
  return picked.success ? picked.data : null;
}

/** The OpenAI-compatible server's switch; both ways validated. */
async function localServer(request: LocalServerRequest): Promise<LocalServerStatus> {
  const status = LocalServerStatusSchema.safeParse(await ipcRenderer.invoke(IPC_LOCAL_SERVER, LocalServerRequestSchema.parse(request)));
  if (!status.success) throw new Error('The local server answered something unexpected.');
  return status.data;
}

// the OS's languages, passed by the shell as a switch of this process (main/app/main.ts)
const systemLanguages = Object.freeze(parseLanguagesSwitch(process.argv));

contextBridge.exposeInMainWorld('perpetua', { ...client.bridge, pickFolder, pickFile, localServer, systemLanguages } satisfies PerpetuaBridge);
