import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DownloadInfo } from '../api/download-schemas.js';
import { createApiRouter } from '../core/api-router.js';
import { CoreService } from '../core/core-service.js';
import { sha256, startFakeHub, type FakeHub } from './fixtures/fake-hub.js';
import { addTinyRepo, TINY_REPO } from './fixtures/tiny-repo.js';

let hub: FakeHub;
let tiny: ReturnType<typeof addTinyRepo>;

beforeAll(async () => {
  hub = await startFakeHub();
  tiny = addTinyRepo(hub);
});
afterAll(() => hub.close());

/** A core whose downloads go to `dir`, with the events it sends. */
function core(dir: string) {
  const c = new CoreService({ dbFile: join(dir, 'chats.db'), downloadDir: join(dir, 'models'), hub: { endpoint: hub.url, backoffMs: 1 } });
  const events: DownloadInfo[] = [];
  c.subscribe((e) => e.event === 'download' && events.push(e.payload));
  const until = async (pred: (d: DownloadInfo) => boolean) => {
    while (!events.some(pred)) await new Promise((r) => setTimeout(r, 20));
    return events.find(pred)!;
  };
  return { c, events, until };
}

describe('downloads in the core', () => {
  it('downloads a catalog-style request with progress, then imports it into the library', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-core-dl-'));
    const { c, events, until } = core(dir);
    try {
      hub.throttle = 300_000;
      const started = await c.downloadsStart({ repo: TINY_REPO });
      expect([started.state, started.variant, started.commit, started.id]).toEqual(['downloading', 'q4', tiny.commit, 'Tiny-ONNX-q4']);
      const moving = await until((d) => d.bytesPerSecond > 0 && d.etaSeconds !== null);
      expect(moving.bytesDone).toBeGreaterThan(0);
      expect(moving.bytesDone).toBeLessThan(moving.bytesTotal);
      hub.throttle = 0;
      const done = await until((d) => d.state === 'done');
      expect(done.bytesDone).toBe(done.bytesTotal);
      const models = await c.modelsList();
      expect(models.map((m) => [m.id, m.name])).toEqual([[done.modelId, 'Tiny-ONNX-q4']]);
      expect(sha256(readFileSync(join(dir, 'models', 'Tiny-ONNX-q4', 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
      // progress is throttled: far fewer events than 16 KiB chunks
      expect(events.length).toBeLessThan(60);
    } finally {
      hub.throttle = 0;
      await c.close();
    }
  });

  it('pauses, resumes, survives a restart mid-download, and cancels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-core-dl-'));
    hub.throttle = 200_000;
    const first = core(dir);
    try {
      await first.c.downloadsStart({ repo: TINY_REPO, variant: 'fp32' });
      await first.until((d) => d.bytesDone > 100_000);
      const paused = await first.c.downloadsPause({ id: 'Tiny-ONNX-fp32' });
      expect(paused.state).toBe('paused');
      const resumed = await first.c.downloadsResume({ id: 'Tiny-ONNX-fp32' });
      expect(resumed.state).toBe('downloading');
      await first.until((d) => d.bytesDone > 250_000);
    } finally {
      await first.c.close(); // the app quits mid-download
    }
    const from = hub.requests.length;
    hub.throttle = 0;
    const second = core(dir);
    try {
      const listed = await second.c.downloadsList();
      expect(listed.map((d) => [d.id, d.state])).toEqual([['Tiny-ONNX-fp32', 'downloading']]);
      expect(listed[0].bytesDone).toBeGreaterThan(250_000);
      await second.until((d) => d.state === 'done');
      const ranges = hub.requests.slice(from).filter((r) => r.server === 'storage').map((r) => r.range);
      expect(ranges).toEqual([expect.stringMatching(/^bytes=\d{6}-$/)]); // went on from the part it had
      expect((await second.c.modelsList()).map((m) => m.name)).toEqual(['Tiny-ONNX-fp32']);

      hub.throttle = 200_000;
      await second.c.downloadsStart({ repo: TINY_REPO, variant: 'q4' });
      await second.until((d) => d.id === 'Tiny-ONNX-q4' && d.bytesDone > 50_000);
      await second.c.downloadsCancel({ id: 'Tiny-ONNX-q4' });
      expect(existsSync(join(dir, 'models', '.downloads', 'Tiny-ONNX-q4'))).toBe(false);
      expect((await second.c.downloadsList()).map((d) => d.id)).toEqual(['Tiny-ONNX-fp32']);
    } finally {
      hub.throttle = 0;
      await second.c.close();
    }
  });

  it('answers bad requests through the API with a sentence and loses nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpetua-core-dl-'));
    const { c } = core(dir);
    const router = createApiRouter(c, () => {});
    try {
      await expect(router.call('downloads.start', { repo: 'not a repo' })).rejects.toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/owner\/name/) });
      await expect(router.call('downloads.start', { repo: 'test-org/Missing' })).rejects.toMatchObject({ code: 'not_found', remoteName: 'DownloadError' });
      await expect(router.call('downloads.pause', { id: 'nope' })).rejects.toMatchObject({ message: 'That download is not in the list any more.' });
      const catalog = await router.call('catalog.list', { provider: 'cpu' });
      expect(catalog.length).toBeGreaterThanOrEqual(9);
      expect(catalog[0]).toMatchObject({ repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', variant: 'q4', fit: expect.stringMatching(/fits|tight|too_large/) });
    } finally {
      router.dispose();
      await c.close();
    }
  });
});
