import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { ReliabilityTally } from '../eval/reliability-tally.js';
import { DownloadError } from './download-error.js';
import { filesOfDir, startFakeHub, type FakeHub } from './fixtures/fake-hub.js';
import { addTinyRepo, TINY_REPO } from './fixtures/tiny-repo.js';
import { HubClient, MAX_LISTING_FILES } from './hub-client.js';
import { planDownload, runDownload } from './model-download.js';
import { unsafeNameReason } from './safe-file-name.js';

/**
 * The downloader suite: a hostile Hub (or a broken mirror) cannot make a download write outside the models folder, on
 * POSIX or Windows rules; cannot pass a file off as checked; cannot make a listing cost unbounded memory or time; and
 * cannot leave a request waiting forever. Each case ends in a sentence (or a download that is truly checked).
 */
const tally = new ReliabilityTally('downloader');
let hub: FakeHub;
let repoCount = 0;
let reported = 0;
const fresh = () => mkdtempSync(join(tmpdir(), 'perpetua-hostile-dl-'));
const client = (o: { retries?: number; timeoutMs?: number; listingTimeoutMs?: number } = {}) =>
  new HubClient({ endpoint: hub.url, backoffMs: 1, retries: 0, ...o });

beforeAll(async () => {
  hub = await startFakeHub();
  addTinyRepo(hub);
});
afterAll(async () => {
  tally.print();
  await hub.close();
});
afterEach(() => {
  for (const k of Object.keys(hub.hostile)) delete hub.hostile[k as keyof typeof hub.hostile];
  expect(tally.bad.slice(reported, (reported = tally.bad.length))).toEqual([]);
});

/** A repo of the tiny model plus `extra` files, under a new name. */
function repoWith(extra: Record<string, string>): string {
  const id = `hostile/repo-${repoCount++}`;
  const model = filesOfDir(testModelDir());
  hub.addRepo(id, { files: { ...model, 'onnx/model_q4.onnx': model['onnx/model.onnx'], ...extra } });
  return id;
}

/** `p` must fail with a DownloadError whose sentence matches, leaving nothing in `dir`, within `ms`. */
async function refusal(p: () => Promise<unknown>, dir: string, pattern: RegExp, ms = 15_000): Promise<DownloadError> {
  const start = Date.now();
  const err = await p().then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof DownloadError)) throw new Error(err ? `not a sentence: ${String(err)}` : 'accepted');
  if (/unexpected|null|undefined/.test(err.message)) throw new Error(`raw message: ${err.message}`);
  if (!pattern.test(err.message)) throw new Error(`"${err.message}" does not match ${pattern}`);
  if (Date.now() - start > ms) throw new Error(`took ${Date.now() - start} ms`);
  const left = existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((f) => !String(f).startsWith('.downloads')) : [];
  if (left.length > 0) throw new Error(`left ${left.join(', ')}`);
  return err;
}

describe('downloader suite', () => {
  const names: [string, Record<string, string>][] = [
    ['a backslash path to the Startup folder', { '..\\..\\..\\..\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\evil.json': 'x' }],
    ['a drive-relative name', { 'C:evil.json': 'x' }],
    ['a device name (CON)', { 'CON.json': 'x' }],
    ['a device name (nul, any case and extension)', { 'nul.tokenizer.txt': 'x' }],
    ['a device name (COM1)', { 'com1.model': 'x' }],
    ['a control character', { 'a\u0007.json': 'x' }],
    ['a case collision', { 'Config.json': '{}' }],
    ['a genai folder name ending in a dot', { 'cpu./genai_config.json': '{}', 'cpu./model.onnx': 'x' }],
    ['a genai folder name ending in a space', { 'cpu /genai_config.json': '{}', 'cpu /model.onnx': 'x' }],
    ['a genai file with backslashes', { 'cpu/genai_config.json': '{}', 'cpu/model.onnx': 'x', 'cpu/..\\..\\evil.onnx': 'x' }],
    ['an absolute genai folder', { '/abs/genai_config.json': '{}', '/abs/model.onnx': 'x' }],
    ['a genai folder above the repo', { '../up/genai_config.json': '{}', '../up/model.onnx': 'x' }],
  ];
  for (const [what, extra] of names) {
    it(`refuses a repo listing ${what}, before anything is written`, async () => {
      await tally.check(`name: ${what}`, async () => {
        const repo = repoWith(extra);
        const dir = fresh();
        const genai = Object.keys(extra).find((f) => f.endsWith('/genai_config.json'));
        const variant = genai?.slice(0, genai.lastIndexOf('/'));
        await refusal(
          async () => {
            const c = client();
            const plan = await planDownload(c, dir, { repo, variant });
            return runDownload(c, dir, plan);
          },
          dir,
          /lists (a file named|both)/,
        );
      });
    });
  }

  it('fetches only what a model needs from a genai folder (no scripts or binaries)', async () => {
    await tally.check('genai folder with evil.bat', async () => {
      const repo = repoWith({ 'cpu/genai_config.json': '{}', 'cpu/model.onnx': 'x', 'cpu/evil.bat': 'x', 'cpu/run.exe': 'x' });
      const plan = await planDownload(client(), fresh(), { repo, variant: 'cpu' });
      expect(plan.files.map((f) => f.local).sort()).toEqual(['genai_config.json', 'model.onnx']);
    });
  });

  it('judges names by both POSIX and Windows rules', async () => {
    await tally.check('name rules', () => {
      const bad = ['', '/etc/passwd', 'a//b', './a', 'a/./b', 'a/..', '..', 'a\\b', 'C:\\x', 'c:x', 'x:stream', 'AUX', 'aux.json', 'Lpt¹.txt', 'conin$', 'a.', 'a ', 'a. /b', 'a<b', 'a|b', 'a?', 'a*', 'a"b', `${'a'.repeat(256)}`];
      const good = ['config.json', 'onnx/model_q4.onnx', 'onnx/model.onnx_data_1', 'cpu-int4/genai_config.json', 'console.json', 'null.json', '.hidden', 'a b.json', 'über.json'];
      for (const n of bad) expect(unsafeNameReason(n), JSON.stringify(n)).not.toBeNull();
      for (const n of good) expect(unsafeNameReason(n), n).toBeNull();
    });
  });

  it('a relative LFS redirect keeps the sha256 check: every file of the finished download was checked', async () => {
    await tally.check('relative LFS redirect', async () => {
      hub.hostile.relativeLfs = true;
      const c = client();
      const dir = fresh();
      const plan = await planDownload(c, dir, { repo: TINY_REPO });
      expect(plan.files.every((f) => f.check !== null)).toBe(true);
      expect(plan.files.find((f) => f.local.endsWith('.onnx'))?.check.algorithm).toBe('sha256');
      expect(existsSync(join(await runDownload(c, dir, plan), 'onnx', 'model_q4.onnx'))).toBe(true);
    });
  });

  it('a Hub that announces no checksum gets a refusal, not an unchecked download', async () => {
    await tally.check('no checksums', async () => {
      hub.hostile.noChecksums = true;
      const dir = fresh();
      await refusal(() => planDownload(client(), dir, { repo: TINY_REPO }), dir, /did not announce a checksum/);
    });
  });

  it('a redirect to file:// is refused with a sentence', async () => {
    await tally.check('file:// redirect', async () => {
      hub.hostile.redirectTo = 'file:///etc/passwd';
      const dir = fresh();
      await refusal(
        async () => {
          const plan = await planDownload(client(), dir, { repo: TINY_REPO });
          return runDownload(client(), dir, plan);
        },
        dir,
        /file address|did not announce/,
      );
    });
  });

  it('an endless listing is cut at its byte bound, in bounded memory', async () => {
    await tally.check('endless listing', async () => {
      hub.hostile.endlessListing = true;
      const before = process.memoryUsage().rss;
      const dir = fresh();
      await refusal(() => planDownload(client(), dir, { repo: TINY_REPO }), dir, /longer than the \d+ bytes/, 30_000);
      expect(process.memoryUsage().rss - before).toBeLessThan(200 * 2 ** 20);
    });
  });

  it(`a listing of more than ${MAX_LISTING_FILES} files is refused, not planned one request at a time`, async () => {
    await tally.check('100,000-file listing', async () => {
      hub.hostile.extraListed = Array.from({ length: 100_000 }, (_, i) => `f${i}.json`);
      const dir = fresh();
      await refusal(() => planDownload(client(), dir, { repo: TINY_REPO }), dir, /lists 100\d+ files/);
    });
  });

  it('a variant with hundreds of files is refused before a request per file', async () => {
    await tally.check('1,000 meta files', async () => {
      hub.hostile.extraListed = Array.from({ length: 1000 }, (_, i) => `f${i}.json`);
      const dir = fresh();
      const from = hub.requests.length;
      await refusal(() => planDownload(client(), dir, { repo: TINY_REPO }), dir, /more than the \d+ Perpetua fetches/);
      expect(hub.requests.length - from).toBe(1);
    });
  });

  it('a Hub that never answers is given up on with a sentence after the request timeout', async () => {
    await tally.check('silent Hub', async () => {
      hub.hostile.silent = true;
      const dir = fresh();
      const from = hub.requests.length;
      // with the default five retries, a silent server is asked twice, not six times
      await refusal(() => planDownload(client({ timeoutMs: 300, retries: 5 }), dir, { repo: TINY_REPO }), dir, /did not answer within 0\.3 s/);
      expect(hub.requests.length - from).toBe(2);
    });
  });

  it('a body that stalls is dropped after the idle timeout and reported, the part kept for a resume', async () => {
    await tally.check('stalled body', async () => {
      const dir = fresh();
      const c = client({ timeoutMs: 400 });
      const plan = await planDownload(c, dir, { repo: TINY_REPO });
      hub.hostile.stallAfter = 100; // inside the first file (config.json, 586 bytes)
      const err = await runDownload(c, dir, plan).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DownloadError);
      expect((err as DownloadError).code).toBe('truncated');
      expect((err as DownloadError).message).toMatch(/kept arriving short/);
    });
  });
});
