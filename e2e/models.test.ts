/**
 * The model manager in Chromium against the real core and a local Hugging Face Hub on 127.0.0.1: the catalog with
 * size and fit, a download with progress, pause and resume, an app restart mid-download, cancel, and imports by
 * folder picker or path that say what to do with a safetensors checkpoint or a GGUF file.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../main/core/core-service.js';
import { startFakeHub, type FakeHub } from '../main/models/fixtures/fake-hub.js';
import { addTinyRepo } from '../main/models/fixtures/tiny-repo.js';
import { layoutModelDir } from '../native-models/layout-fixtures.js';
import { FIXTURES, fixtureAvailable } from '../native-models/test-models.js';
import { shot, startHarness, watchAppearance, type Harness } from './harness.js';

let hub: FakeHub;
let h: Harness | null = null;
let core: CoreService | null = null;
const dir = mkdtempSync(join(tmpdir(), 'perpetua-e2e-models-'));
let picked: string | null = null;

/** The app as a user starts it: a core on the same database and models folder, and a fresh page. */
async function startApp(): Promise<Page> {
  core = new CoreService({ dbFile: join(dir, 'perpetua.db'), downloadDir: join(dir, 'models'), hub: { endpoint: hub.url, backoffMs: 10 } });
  h = await startHarness(core, { width: 1280, height: 900 }, { pickFolder: async () => picked });
  await h.page.click('[data-testid=open-models]');
  await h.page.waitForSelector('[data-testid=catalog-item]');
  return h.page;
}

async function quitApp(): Promise<void> {
  await h?.close();
  await core?.close();
  h = null;
  core = null;
}

const row = (id: string) => `[data-testid=catalog-item][data-id="${id}"]`;

beforeAll(async () => {
  hub = await startFakeHub();
  // the catalog's repos, served with the generated tiny model's files
  addTinyRepo(hub, 'HuggingFaceTB/SmolLM2-135M-Instruct');
  addTinyRepo(hub, 'onnx-community/Qwen2.5-0.5B-Instruct');
});
afterAll(async () => {
  await quitApp();
  await hub.close();
});

describe('model manager', () => {
  it('shows the catalog with size, memory fit and the variant for the provider', async () => {
    const page = await startApp();
    expect(await page.$$eval('[data-testid=catalog-item]', (els) => els.length)).toBeGreaterThanOrEqual(9);
    const smol = await page.textContent(row('smollm2-135m-instruct'));
    expect(smol).toMatch(/HuggingFaceTB\/SmolLM2-135M-Instruct · q4 · 191 MB · 8,192 ctx · apache-2\.0/);
    expect(await page.textContent(`${row('smollm2-135m-instruct')} [data-testid=catalog-fit]`)).toMatch(/^(Fits|Tight|Too large): needs about .* of .* memory/);
    const rowShows = (text: string) =>
      page.waitForFunction(([sel, t]) => (document.querySelector(sel)?.textContent ?? '').includes(t), [row('smollm2-135m-instruct'), text] as const);
    await page.selectOption('[data-testid=catalog-provider]', 'webgpu');
    await rowShows('· q4f16 · 128 MB ·');
    await page.selectOption('[data-testid=catalog-provider]', 'cpu');
    await rowShows('· q4 · 191 MB ·');
    await shot(page, 'model-catalog');
    expect(await h!.cspViolations()).toEqual([]);
  });

  it('downloads with a progress bar, pauses, resumes, and goes on after the app restarts', async () => {
    const page = h!.page;
    hub.throttle = 120_000;
    await page.click(`${row('smollm2-135m-instruct')} [data-testid=catalog-download]`);
    const figures = `${row('smollm2-135m-instruct')} [data-testid=download-figures]`;
    await page.waitForFunction((sel) => /KB\/s · .* left/.test(document.querySelector(sel)?.textContent ?? ''), figures, { timeout: 30_000 });
    // bytes so far, size, speed and time left, in formatBytes / formatEta units (a loaded machine may show "586 B" or "4 min")
    expect(await page.textContent(figures)).toMatch(/^\s*[\d.]+ (B|KB) of [\d.]+ KB\s*· [\d.]+ (B|KB)\/s · (\d+ (s|min)|\d+ h \d+ min|…) left\s*$/);
    await shot(page, 'model-download');
    await page.click(`${row('smollm2-135m-instruct')} [data-testid=download-pause]`);
    await page.waitForSelector(`${row('smollm2-135m-instruct')} [data-testid=download][data-state=paused]`);
    expect(await page.textContent(figures)).toMatch(/paused/);
    await page.click(`${row('smollm2-135m-instruct')} [data-testid=download-resume]`);
    await page.waitForSelector(`${row('smollm2-135m-instruct')} [data-testid=download][data-state=downloading]`);

    await quitApp(); // mid-download
    hub.throttle = 0;
    const again = await startApp();
    await again.waitForSelector(`${row('smollm2-135m-instruct')} [data-testid=catalog-installed]`, { timeout: 60_000 });
    await again.waitForSelector('[data-testid=model-item]:has-text("SmolLM2-135M-Instruct-q4")');
    expect(hub.requests.some((r) => r.server === 'storage' && r.range?.startsWith('bytes='))).toBe(true);
  });

  it('cancels a download and deletes what it fetched', async () => {
    const page = h!.page;
    hub.throttle = 100_000;
    try {
      await page.click(`${row('qwen2.5-0.5b-instruct')} [data-testid=catalog-download]`);
      await page.waitForSelector(`${row('qwen2.5-0.5b-instruct')} [data-testid=download][data-state=downloading]`);
      await page.click(`${row('qwen2.5-0.5b-instruct')} [data-testid=download-cancel]`);
      await page.waitForSelector(`${row('qwen2.5-0.5b-instruct')} [data-testid=catalog-download]`);
    } finally {
      hub.throttle = 0;
    }
    expect(await core!.downloadsList()).toEqual([expect.objectContaining({ id: 'SmolLM2-135M-Instruct-q4', state: 'done' })]);
  });

  it('imports by folder picker, offers to convert a safetensors checkpoint, and names the ONNX alternative of a GGUF file', async () => {
    const page = h!.page;
    const checkpoint = join(dir, 'SmolLM2-135M-Instruct-hf');
    mkdirSync(checkpoint);
    writeFileSync(join(checkpoint, 'config.json'), '{"model_type": "llama"}');
    writeFileSync(join(checkpoint, 'model.safetensors'), '');
    picked = checkpoint;
    await page.click('[data-testid=model-pick]');
    await page.waitForSelector('[data-testid=model-convert-offer]');
    expect(await page.textContent('[data-testid=model-import-error]')).toMatch(/is a Hugging Face checkpoint \(safetensors\), not an ONNX export: convert it with "Convert to ONNX" here/);
    await shot(page, 'model-import-convert');
    if (fixtureAvailable(FIXTURES.stories260k)) {
      // a real checkpoint converts in-app and lands in the library
      picked = join(FIXTURES.stories260k, 'hf');
      await page.click('[data-testid=model-pick]');
      // the conversion shows its bar (percent, time left, Cancel) while it runs
      const sawBar = await watchAppearance(page, '[data-testid=convert-progress] [data-testid=convert-progress-cancel]', '__sawConvertBar');
      await page.click('[data-testid=model-convert]');
      await page.waitForSelector('[data-testid=model-item]:has-text("stories260k-onnx")', { timeout: 120_000 });
      expect(await page.$('[data-testid=model-convert-offer]')).toBeNull();
      expect(await sawBar()).toBe(true);
    }

    const gguf = join(dir, 'Qwen2.5-0.5B-Instruct-Q4_K_M.gguf');
    writeFileSync(gguf, 'GGUF');
    await page.fill('[data-testid=model-dir]', gguf);
    await page.click('[data-testid=model-import]');
    await page.waitForSelector('[data-testid=model-import-error]:has-text("GGUF")');
    expect(await page.textContent('[data-testid=model-import-error]')).toContain(
      'download the ONNX export instead: Qwen2.5 0.5B Instruct (onnx-community/Qwen2.5-0.5B-Instruct) from the catalog.',
    );
    expect(await page.$('[data-testid=model-convert-offer]')).toBeNull();
    await shot(page, 'model-import-gguf');
    expect(h!.pageErrors).toEqual([]);
    expect(await h!.cspViolations()).toEqual([]);
  });

  it('lists a folder’s export variants and runs the one chosen, or the best one for the provider', async () => {
    const page = h!.page;
    // other weights than the downloaded tiny model's: a folder with the same graph is the same model (its fingerprint)
    const variants = layoutModelDir([{ file: 'onnx/model_fp16.onnx', float16: true }, { file: 'onnx/model_q4.onnx' }], { seed: 5 });
    await page.fill('[data-testid=model-dir]', variants);
    const sawBar = await watchAppearance(page, '[data-testid=import-progress] [data-testid=import-progress-cancel]', '__sawImportBar');
    await page.click('[data-testid=model-import]');
    const item = `[data-testid=model-item]:has([data-testid=model-variant])`;
    await page.waitForSelector(item);
    expect(await sawBar()).toBe(true);
    const select = `${item} [data-testid=model-variant]`;
    expect(await page.$$eval(`${select} option`, (os) => os.map((o) => o.textContent?.trim()))).toEqual([
      'Best for CPU',
      expect.stringMatching(/^fp32 · float32 KV · \d/),
      expect.stringMatching(/^fp16 · float16 KV · \d/),
      expect.stringMatching(/^q4 · float32 KV · \d/),
    ]);
    const chosen = async () => (await core!.modelsList()).find((m) => m.path === variants)?.variant;
    expect(await chosen()).toBeUndefined();
    await page.selectOption(select, 'fp16');
    await page.waitForFunction((sel) => (document.querySelector(sel) as HTMLSelectElement | null)?.value === 'fp16', select);
    await expect.poll(chosen).toBe('fp16');
    await shot(page, 'model-variants');
    await page.selectOption(select, '');
    await expect.poll(chosen).toBeUndefined();
    expect(h!.pageErrors).toEqual([]);
  });
});
