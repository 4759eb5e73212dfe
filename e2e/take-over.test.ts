/**
 * A chat another Perpetua process left open, in Chromium against the real core: opening it says so with a Take over
 * button; taking over a holder that is gone (its lease still looks alive: another machine, a renamed host) opens the
 * chat with the answer it was writing marked cut off; a holder that still runs on this computer is refused with a sentence.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { openDatabase } from '../main/store/database.js';
import { Store } from '../main/store/store.js';
import { testModelDir } from '../native-models/test-models.js';
import { shot, startHarness, type Harness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-take-over-'));
const dbFile = join(dir, 'perpetua.db');
const sink = { name: 'sink', sink: 4, window: 60, pinSystem: false } as const;
/** a Perpetua process that still runs on this computer */
const running = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });

let core: CoreService;
let h: Harness;
let page: Page;

const field = (pid: number, n: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n];
};
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

beforeAll(async () => {
  const before = new CoreService({ dbFile, maxAnswerTokens: 8 });
  const model = await before.modelsImport({ dir: testModelDir() });
  const gone = await before.sessionsCreate({ name: 'Left open', modelId: model.id, policy: sink });
  const held = await before.sessionsCreate({ name: 'Held here', modelId: model.id, policy: sink });
  const home = await before.sessionsCreate({ name: 'Home', modelId: model.id, policy: sink });
  await before.close();
  // "Left open": a laptop's process that died 10 s after renewing its lease (its host renamed since); "Held here": a
  // process of this boot that runs
  const store = new Store(openDatabase(dbFile));
  store.appendMessage(Number(gone.id), { role: 'user', text: 'Tell me a story', state: 'done' });
  store.appendMessage(Number(gone.id), { role: 'assistant', text: 'Once upon a', state: 'streaming' });
  const lock = store.db.prepare(
    'INSERT INTO session_locks (session_id, pid, host, process_start, holder, acquired_at, renewed_at, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const now = Date.now();
  lock.run(Number(gone.id), 4242, 'MacBook-Pro.local', '1', 'Perpetua', now - 3_600_000, now - 10_000, 'the-laptops-boot');
  lock.run(Number(held.id), running.pid, 'this-host', field(running.pid!, 19), 'perpetua chat', now, now, bootId());
  store.renameSession(Number(home.id), 'Home'); // the newest chat: the app opens it at start
  store.db.close();
  core = new CoreService({ dbFile, maxAnswerTokens: 8 });
  h = await startHarness(core);
  page = h.page;
  await page.waitForSelector('[data-testid=session-title]:has-text("Home")');
});

afterAll(async () => {
  running.kill();
  await h?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a chat another process left open', () => {
  it('offers to take it over, and taking over opens it with the cut-off answer marked', async () => {
    await page.click('[data-testid=session-item]:has-text("Left open")');
    await page.waitForSelector('[data-testid=toast-error]:has-text("open in another Perpetua process") [data-testid=toast-action]');
    expect(await page.$('[data-testid=session-title]')).toBeNull();
    await page.click('[data-testid=toast-error] [data-testid=toast-action]');
    await page.waitForSelector('[data-testid=session-title]:has-text("Left open")');
    await page.waitForSelector('[data-testid=toast-info]:has-text("was taken over")');
    await page.waitForSelector('[data-testid=message][data-state=stopped]');
    expect(await page.$$eval('[data-testid=message]', (els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['done', 'stopped']);
    await shot(page, 'taken-over');
    expect(await h.cspViolations()).toEqual([]);
  });

  it('refuses, with a sentence, to take over from a process that still runs on this computer', async () => {
    await page.click('[data-testid=session-item]:has-text("Held here")');
    await page.click('[data-testid=toast-error]:has-text("Held here") [data-testid=toast-action]');
    await page.waitForSelector('[data-testid=toast-error]:has-text("is still running on this computer")');
    expect(await page.textContent('[data-testid=toast-error]:has-text("is still running on this computer")')).toContain(`pid ${running.pid}`);
    expect(await page.$('[data-testid=session-title]')).toBeNull();
    expect(h.pageErrors).toEqual([]);
  });
});
