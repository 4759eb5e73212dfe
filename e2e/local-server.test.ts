/**
 * The app's local server switch in Chromium: the dialog at the chat list's foot switches the OpenAI-compatible server on
 * (the shell's LocalServer, here answered by the web host as the Electron shell answers it), shows the base URL, and
 * counts the requests an outside client makes — a real HTTP request to the real core.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { inProcessClient } from '../main/core/in-process-client.js';
import { LocalServer } from '../main/app/local-server.js';
import { testModelDir } from '../native-models/test-models.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-serve-'));
const core = new CoreService({ dbFile: join(dir, 'perpetua.db') });
const wire = inProcessClient(core);
const local = new LocalServer(() => wire.bridge, join(dir, 'local-server.json'));
let h: Harness | null = null;

afterAll(async () => {
  await h?.close();
  await local.close();
  wire.dispose();
  await core.close();
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('local server switch', () => {
  it('switches the server on, shows the base URL and counts what clients ask', async () => {
    const model = await core.modelsImport({ dir: testModelDir() });
    h = await startHarness(core, { width: 1280, height: 800 }, { localServer: (request) => local.handle(request) });
    const page = h.page;
    await page.click('[data-testid=open-local-server]');
    await page.waitForSelector('[data-testid=local-server-dialog] [data-testid=local-server-state]');
    expect(await page.textContent('[data-testid=local-server-state]')).toContain('Off');
    const port = await freePort();
    await page.fill('[data-testid=local-server-port]', String(port));
    await page.check('[data-testid=local-server-enabled]');
    await page.waitForFunction(() => document.querySelector('[data-testid=local-server-state]')?.textContent?.includes('Running'));
    const baseUrl = (await page.textContent('[data-testid=local-server-url]'))!.trim();
    expect(baseUrl).toBe(`http://127.0.0.1:${port}/v1`);

    // an editor asks: the dialog's count follows
    const models = (await (await fetch(`${baseUrl}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([model.name]);
    await page.waitForFunction(() => document.querySelector('[data-testid=local-server-state]')?.textContent?.includes(': 1'), undefined, { timeout: 10_000 });
    await shot(page, 'local-server');
    expect(h.pageErrors).toEqual([]);
    expect(await h.cspViolations()).toEqual([]);

    await page.uncheck('[data-testid=local-server-enabled]');
    await page.waitForFunction(() => document.querySelector('[data-testid=local-server-state]')?.textContent?.includes('Off'));
    await expect(fetch(`${baseUrl}/models`)).rejects.toThrow();
  });
});
