/**
 * A download without a network, in Chromium against the real core whose Hub cannot be reached: the item says it is
 * connecting from the click on (planning the download takes the Hub client's retries), then why it failed, on the
 * item itself, with a way to try again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-offline-'));
let core: CoreService;
let h: Harness;

beforeAll(async () => {
  // port 1 on the loopback: every connection is refused, as on a machine without a network
  core = new CoreService({ dbFile: join(dir, 'perpetua.db'), downloadDir: join(dir, 'models'), hub: { endpoint: 'http://127.0.0.1:1', backoffMs: 200 } });
  h = await startHarness(core, { width: 1280, height: 900 });
});

afterAll(async () => {
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('download without a network', () => {
  it('says it is connecting at once, then why it failed on the item, with Try again', async () => {
    const page = h.page;
    const item = '[data-testid=catalog-item][data-id="smollm2-135m-instruct"]';
    await page.click('[data-testid=open-models]');
    await page.click(`${item} [data-testid=catalog-download]`);
    // the click's answer is the item's own state, not a silent button for the length of the retries
    await page.waitForSelector(`${item} [data-testid=catalog-connecting][disabled]`, { timeout: 5_000 });
    await page.waitForSelector(`${item} [data-testid=catalog-download-error]`, { timeout: 90_000 });
    expect(await page.textContent(`${item} [data-testid=catalog-download-error]`)).toMatch(/network|reach|connect/i);
    expect(await page.textContent(`${item} [data-testid=catalog-download]`)).toBe('Try again');
    await shot(page, 'download-offline');
  });
});
