/**
 * Web test host: serves the built renderer over http on 127.0.0.1 (random port) and bridges the typed API
 * to a `PerpetuaApi` implementation over a loopback WebSocket authenticated with a random token. The page
 * gets `window.perpetua` from an injected shim script (same zod-validated client as the Electron preload).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { createApiRouter } from '../main/core/api-router.js';
import { LocalServerRequestSchema, type LocalServerRequest, type LocalServerStatus } from '../main/api/shell-protocol.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface WebHostOptions {
  /** The core to bridge to (the real CoreService in e2e tests). */
  api: PerpetuaApi;
  /** Built renderer (default dist/renderer). */
  rendererDir?: string;
  /** Built shim script (default dist/web-shim/perpetua-ws-shim.js). */
  shimFile?: string;
  /** Log protocol problems (default: console.warn). */
  onProtocolError?: (message: string) => void;
  /** What the shell's folder picker answers (default: cancelled). */
  pickFolder?: () => Promise<string | null>;
  /** What the shell's file picker answers (default: cancelled). */
  pickFile?: () => Promise<string | null>;
  /** The app's local server switch (Electron: main/app/local-server.ts); absent, the page has none, as in a browser. */
  localServer?: (request: LocalServerRequest) => Promise<LocalServerStatus>;
}

export interface WebHost {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Open WebSocket connections. */
  readonly connections: number;
  close(): Promise<void>;
}

const SHIM_PATH = '/__perpetua/shim.js';
/** The shell's folder picker (Electron: a dialog in the main process), answered by `opts.pickFolder`. */
const PICK_PATH = '/__perpetua/pick-folder';
/** The shell's file picker (Electron: a dialog in the main process), answered by `opts.pickFile`. */
const PICK_FILE_PATH = '/__perpetua/pick-file';
/** The app's local server switch (Electron: IPC to the main process), answered by `opts.localServer`. */
const LOCAL_SERVER_PATH = '/__perpetua/local-server';
const WS_PATH = '/__perpetua/ws';
/** A 10 MB message can double in size once JSON-escaped (newlines, quotes). */
const MAX_WS_PAYLOAD = 64 * 1024 * 1024;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export function hostCsp(port: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ws://127.0.0.1:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const rendererDir = resolve(opts.rendererDir ?? join(repoRoot, 'dist', 'renderer'));
  const shimFile = resolve(opts.shimFile ?? join(repoRoot, 'dist', 'web-shim', 'perpetua-ws-shim.js'));
  const report = opts.onProtocolError ?? ((m: string) => console.warn(`[web-host] ${m}`));
  const token = randomBytes(24).toString('hex');
  await stat(join(rendererDir, 'index.html')).catch(() => {
    throw new Error(`The renderer is not built: ${join(rendererDir, 'index.html')} is missing. Run "npm run build:renderer".`);
  });
  await stat(shimFile).catch(() => {
    throw new Error(`The web shim is not built: ${shimFile} is missing.`);
  });

  let port = 0;
  const sockets = new Set<WebSocket>();

  const server = createServer((req, res) => {
    void serve(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String((err as Error).message));
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isOwnHost(req.headers.host, port)) {
      // DNS rebinding: a page on evil.example that resolves to 127.0.0.1 would read index.html (and its token).
      res.writeHead(421, { 'content-type': 'text/plain' }).end('Misdirected request: this host only answers http://127.0.0.1.');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const headers: Record<string, string> = {
      'content-security-policy': hostCsp(port),
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    };
    if (url.pathname === PICK_PATH || url.pathname === PICK_FILE_PATH) {
      const given = Buffer.from(url.searchParams.get('token') ?? '');
      const ok = given.length === token.length && timingSafeEqual(given, Buffer.from(token));
      const pick = url.pathname === PICK_PATH ? opts.pickFolder : opts.pickFile;
      res.writeHead(ok ? 200 : 401, { ...headers, 'content-type': MIME['.json'] });
      res.end(ok ? JSON.stringify(await (pick?.() ?? null)) : 'null');
      return;
    }
    if (url.pathname === LOCAL_SERVER_PATH && opts.localServer) {
      const given = Buffer.from(url.searchParams.get('token') ?? '');
      const ok = given.length === token.length && timingSafeEqual(given, Buffer.from(token));
      const request = LocalServerRequestSchema.safeParse(JSON.parse(url.searchParams.get('request') ?? 'null'));
      res.writeHead(ok && request.success ? 200 : 401, { ...headers, 'content-type': MIME['.json'] });
      res.end(ok && request.success ? JSON.stringify(await opts.localServer(request.data)) : 'null');
      return;
    }
    if (url.pathname === SHIM_PATH) {
      res.writeHead(200, { ...headers, 'content-type': MIME['.js'] });
      res.end(await readFile(shimFile));
      return;
    }
    let path = decodeURIComponent(url.pathname);
    if (path === '/' || path === '') path = '/index.html';
    const file = resolve(rendererDir, `.${path}`);
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('Not found');
      return;
    }
    const type = MIME[extname(file)] ?? 'application/octet-stream';
    if (file.endsWith('index.html')) body = Buffer.from(injectShim(body.toString('utf8'), port, token, opts.localServer !== undefined));
    res.writeHead(200, { ...headers, 'content-type': type });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_PAYLOAD });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const origin = req.headers.origin;
    const given = Buffer.from(url.searchParams.get('token') ?? '');
    const expected = Buffer.from(token);
    const ok =
      isOwnHost(req.headers.host, port) &&
      url.pathname === WS_PATH &&
      origin === `http://127.0.0.1:${port}` &&
      given.length === expected.length &&
      timingSafeEqual(given, expected);
    if (!ok) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    const router = createApiRouter(
      opts.api,
      (message) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
      },
      { onProtocolError: report },
    );
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        report('Ignored a binary message.');
        return;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        report('Ignored a message that is not JSON.');
        return;
      }
      void router.handle(msg);
    });
    ws.on('close', () => {
      sockets.delete(ws);
      router.dispose();
    });
    ws.on('error', (err) => report(`WebSocket error: ${err.message}`));
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      port = (server.address() as AddressInfo).port;
      res();
    });
  });

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    token,
    get connections() {
      return sockets.size;
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** Only requests addressed to this host by its own name (no DNS-rebound name) are answered. */
export function isOwnHost(hostHeader: string | undefined, port: number): boolean {
  return hostHeader === `127.0.0.1:${port}`;
}

/** Point the page's CSP at this host's WebSocket and load the shim before the app. */
export function injectShim(html: string, port: number, token: string, localServer = false): string {
  const csp = hostCsp(port);
  let out = html.replace(
    /<meta\s+http-equiv="Content-Security-Policy"\s+content="[^"]*"\s*\/?>/i,
    `<meta http-equiv="Content-Security-Policy" content="${csp}" />`,
  );
  if (out === html) out = out.replace(/<head>/i, `<head>\n    <meta http-equiv="Content-Security-Policy" content="${csp}" />`);
  return out.replace(/<\/head>/i, `    <script src="${SHIM_PATH}?token=${token}${localServer ? '&local-server=1' : ''}"></script>\n  </head>`);
}
