/**
 * Browser-side `window.perpetua` for the web test host: the same typed, zod-validated client as the
 * Electron preload, speaking JSON over a loopback WebSocket authenticated with the host's random token.
 * Bundled to one classic script (dist/web-shim/perpetua-ws-shim.js) and loaded before the app.
 */
import '../../main/api/zod-no-eval.js';
import { createApiClient } from '../../main/api/api-client.js';
import type { ClientEnvelope } from '../../main/api/envelope.js';
import type { PerpetuaBridge } from '../../main/api/perpetua-api.js';
import { LocalServerStatusSchema, PickedFolderSchema, type LocalServerRequest, type LocalServerStatus } from '../../main/api/shell-protocol.js';

// Minimal browser globals (this file is type-checked with the Node project, without the DOM lib).
interface BrowserSocket {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  addEventListener(type: 'open' | 'close' | 'error', fn: () => void): void;
  addEventListener(type: 'message', fn: (e: { data: unknown }) => void): void;
}
interface BrowserGlobals {
  WebSocket: new (url: string) => BrowserSocket;
  fetch(url: string): Promise<{ json(): Promise<unknown> }>;
  location: { host: string; protocol: string };
  document: { currentScript: { src: string } | null };
}
const g = globalThis as unknown as BrowserGlobals;

const script = g.document.currentScript;
const token = script ? new URL(script.src).searchParams.get('token') ?? '' : '';
/** the host answers the app's local server switch (a test asked for it) */
const hasLocalServer = script ? new URL(script.src).searchParams.get('local-server') === '1' : false;
const wsUrl = `${g.location.protocol === 'https:' ? 'wss' : 'ws'}://${g.location.host}/__perpetua/ws?token=${encodeURIComponent(token)}`;

let socket: BrowserSocket | null = null;
let queue: string[] = [];
let retry = 0;

const client = createApiClient({
  send(request: ClientEnvelope) {
    const data = JSON.stringify(request);
    if (socket && socket.readyState === 1) socket.send(data);
    else queue.push(data);
  },
});

function connect(): void {
  const ws = new g.WebSocket(wsUrl);
  socket = ws;
  ws.addEventListener('open', () => {
    retry = 0;
    const q = queue;
    queue = [];
    for (const d of q) ws.send(d);
  });
  ws.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(e.data);
    } catch {
      console.warn('[perpetua] Ignored a message that is not JSON.');
      return;
    }
    client.receive(msg);
  });
  ws.addEventListener('close', () => {
    if (socket !== ws) return;
    socket = null;
    client.failPending('The connection to the core closed.');
    retry++;
    setTimeout(connect, Math.min(5000, 200 * 2 ** retry));
  });
}

connect();

/** The shell's folder picker: the host answers what the test chose, validated like the preload does. */
async function pickFolder(): Promise<string | null> {
  const picked = PickedFolderSchema.safeParse(await (await g.fetch(`/__perpetua/pick-folder?token=${encodeURIComponent(token)}`)).json());
  return picked.success ? picked.data : null;
}

/** The shell's file picker (a conversations file to import), answered by the host like the folder picker. */
async function pickFile(): Promise<string | null> {
  const picked = PickedFolderSchema.safeParse(await (await g.fetch(`/__perpetua/pick-file?token=${encodeURIComponent(token)}`)).json());
  return picked.success ? picked.data : null;
}

/** The app's local server switch, answered by the host as the Electron shell does, validated like the preload does. */
async function localServer(request: LocalServerRequest): Promise<LocalServerStatus> {
  const url = `/__perpetua/local-server?token=${encodeURIComponent(token)}&request=${encodeURIComponent(JSON.stringify(request))}`;
  return LocalServerStatusSchema.parse(await (await g.fetch(url)).json());
}

Object.defineProperty(globalThis, 'perpetua', {
  value: Object.freeze({ ...client.bridge, pickFolder, pickFile, ...(hasLocalServer ? { localServer } : {}) } satisfies PerpetuaBridge),
  writable: false,
  configurable: false,
  enumerable: true,
});
