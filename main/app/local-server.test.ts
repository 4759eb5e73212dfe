/**
 * The app's server switch against the real core, connected the way the shell connects it: the core's API router on one
 * end of a port pair, the shell's port client on the other (Electron's MessageChannelMain stood in for by two linked
 * emitters that pass structured clones, as Electron does).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { createApiRouter } from '../core/api-router.js';
import { CoreService } from '../core/core-service.js';
import { LocalServer } from './local-server.js';
import { createPortClient, type PortLike } from './port-client.js';

class LinkedPort extends EventEmitter implements PortLike {
  other!: LinkedPort;
  postMessage(message: unknown): void {
    const data = structuredClone(message);
    setImmediate(() => this.other.emit('message', { data }));
  }
  start(): void {}
  close(): void {
    this.removeAllListeners();
  }
}

function channel(): [LinkedPort, LinkedPort] {
  const a = new LinkedPort();
  const b = new LinkedPort();
  a.other = b;
  b.other = a;
  return [a, b];
}

/** A port nobody listens on (taken and released at once). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('the app\'s local server switch', () => {
  it('starts on 127.0.0.1 over the core\'s port, counts requests, remembers its settings and says when the port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-local-server-'));
    const core = new CoreService({ dbFile: join(dir, 'chats.db'), maxAnswerTokens: 4 });
    cleanup.push(() => core.close());
    const model = (await core.modelsImport({ dir: testModelDir() })).name;
    const [coreEnd, shellEnd] = channel();
    const router = createApiRouter(core, (m) => coreEnd.postMessage(m));
    coreEnd.on('message', (e: { data: unknown }) => void router.handle(e.data));
    cleanup.push(() => router.dispose());
    const client = createPortClient<LinkedPort>(-1);
    client.coreClient.sendPort(shellEnd);

    const file = join(dir, 'local-server.json');
    const server = new LocalServer(() => client.bridge, file);
    cleanup.push(() => server.close());
    expect(server.status()).toMatchObject({ enabled: false, running: false, requestsSeen: 0 });

    const port = await freePort();
    const on = await server.handle({ action: 'apply', enabled: true, port, apiKey: 'sesame' });
    expect(on).toMatchObject({ enabled: true, running: true, baseUrl: `http://127.0.0.1:${port}/v1`, error: null });
    const auth = { authorization: 'Bearer sesame', 'content-type': 'application/json' };
    expect((await fetch(`${on.baseUrl}/models`)).status).toBe(401);
    const models = (await (await fetch(`${on.baseUrl}/models`, { headers: auth })).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([model]);
    const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello from an editor.' }], max_tokens: 3 });
    const answer = (await (await fetch(`${on.baseUrl}/chat/completions`, { method: 'POST', headers: auth, body })).json()) as { usage: { completion_tokens: number } };
    expect(answer.usage.completion_tokens).toBe(3);
    expect((await server.handle({ action: 'status' })).requestsSeen).toBe(3);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ enabled: true, port, apiKey: 'sesame' });
    expect(statSync(file).mode & 0o077).toBe(0); // it holds the key

    // the next start of the app switches it on again
    await server.close();
    const again = new LocalServer(() => client.bridge, file);
    cleanup.push(() => again.close());
    expect(await again.restore()).toMatchObject({ running: true, port });

    // another program holds the port: off, with the reason
    const other: Server = createServer();
    const taken = await freePort();
    await new Promise<void>((r) => other.listen(taken, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => other.close(r)));
    expect(await again.handle({ action: 'apply', enabled: true, port: taken, apiKey: null })).toMatchObject({ enabled: true, running: false, error: `Port ${taken} is taken by another program; choose another.` });
    expect(await again.handle({ action: 'apply', enabled: false, port: taken, apiKey: null })).toMatchObject({ enabled: false, running: false, error: null });
  });
});
