import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PerpetuaApi } from '../main/api/perpetua-api.js';
import { injectShim, startWebHost, type WebHost } from './web-host.js';

const INDEX = `<!doctype html><html><head>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; connect-src 'self'" />
<script type="module" src="./assets/app.js"></script></head><body></body></html>`;

describe('web host', () => {
  let dir: string;
  let host: WebHost;
  const api = {
    sessionsList: async () => [],
    subscribe: () => () => {},
  } as unknown as PerpetuaApi;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'perpetua-webhost-'));
    mkdirSync(join(dir, 'renderer', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'renderer', 'index.html'), INDEX);
    writeFileSync(join(dir, 'renderer', 'assets', 'app.js'), 'export {};');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    writeFileSync(join(dir, 'shim.js'), '/* shim */');
    host = await startWebHost({ api, rendererDir: join(dir, 'renderer'), shimFile: join(dir, 'shim.js'), onProtocolError: () => {} });
  });

  afterAll(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 on a random port', () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('serves index.html with the shim injected and a CSP that allows only its own WebSocket', async () => {
    const res = await fetch(host.url);
    const html = await res.text();
    expect(res.headers.get('content-security-policy')).toContain(`connect-src 'self' ws://127.0.0.1:${host.port}`);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html).toContain(`<script src="/__perpetua/shim.js?token=${host.token}"></script>`);
    expect(html).toContain(`ws://127.0.0.1:${host.port}`);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
  });

  it('does not serve files outside the renderer folder', async () => {
    const res = await fetch(`${host.url}..%2fsecret.txt`);
    expect([403, 404]).toContain(res.status);
    expect(await res.text()).not.toContain('secret');
  });

  /** A raw GET with a chosen Host header (fetch does not let a caller set Host). */
  function getWithHost(hostHeader: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: host.port, path: '/', headers: { host: hostHeader } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers only requests addressed to 127.0.0.1 by that name (DNS rebinding)', async () => {
    const rebound = await getWithHost(`evil.example:${host.port}`);
    expect(rebound.status).toBe(421);
    expect(rebound.body).not.toContain(host.token);
    expect((await getWithHost(`localhost:${host.port}`)).status).toBe(421);
    const own = await getWithHost(`127.0.0.1:${host.port}`);
    expect(own.status).toBe(200);
    expect(own.body).toContain(host.token);
  });

  function connect(query: string, origin: string | undefined, headers: Record<string, string> = {}): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${host.port}/__perpetua/ws${query}`, { ...(origin ? { origin } : {}), headers });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  }

  it('refuses WebSockets without the token or from another origin', async () => {
    const origin = `http://127.0.0.1:${host.port}`;
    await expect(connect('?token=wrong', origin)).rejects.toThrow(/401/);
    await expect(connect(`?token=${host.token}`, 'http://evil.example')).rejects.toThrow(/401/);
    await expect(connect(`?token=${host.token}`, undefined)).rejects.toThrow(/401/);
    await expect(connect(`?token=${host.token}`, origin, { host: `evil.example:${host.port}` })).rejects.toThrow(/401/);
  });

  it('bridges requests to the API with validation', async () => {
    const ws = await connect(`?token=${host.token}`, `http://127.0.0.1:${host.port}`);
    const replies: unknown[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        replies.push(JSON.parse(d.toString()));
        if (replies.length === 2) resolve();
      }),
    );
    ws.send(JSON.stringify({ id: 1, method: 'sessions.list' }));
    ws.send(JSON.stringify({ id: 2, method: 'nope' }));
    await got;
    expect(replies).toContainEqual({ id: 1, result: [] });
    expect(replies).toContainEqual(expect.objectContaining({ id: 2, error: expect.objectContaining({ code: 'unknown_method' }) }));
    ws.close();
  });

  it('injectShim adds a meta CSP when the page has none', () => {
    const out = injectShim('<html><head></head><body></body></html>', 1234, 'tok');
    expect(out).toContain("connect-src 'self' ws://127.0.0.1:1234");
    expect(out).toContain('/__perpetua/shim.js?token=tok');
  });
});
