import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreService } from '../core/core-service.js';
import { Model } from '../engine/model.js';
import { DownloadError } from './download-error.js';
import { partFile } from './file-download.js';
import { sha256, startFakeHub, type FakeHub } from './fixtures/fake-hub.js';
import { addTinyRepo, TINY_REPO } from './fixtures/tiny-repo.js';
import { HubClient } from './hub-client.js';
import { planDownload, runDownload, stagingDir, type DownloadPlan } from './model-download.js';

let hub: FakeHub;
let tiny: ReturnType<typeof addTinyRepo>;
const client = (o: { token?: string; retries?: number } = {}) => new HubClient({ endpoint: hub.url, backoffMs: 1, ...o });
const freshDir = () => mkdtempSync(join(tmpdir(), 'perpetua-dl-'));

async function download(dir: string, req: { repo?: string; variant?: string; revision?: string } = {}, c = client()) {
  const plan = await planDownload(c, dir, { repo: TINY_REPO, ...req });
  return { plan, dir: await runDownload(c, dir, plan) };
}

async function failure(p: Promise<unknown>): Promise<DownloadError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(DownloadError);
  return err as DownloadError;
}

beforeAll(async () => {
  hub = await startFakeHub();
  tiny = addTinyRepo(hub);
  addTinyRepo(hub, 'test-org/Gated', { gatedToken: 'hf_good' });
});
afterAll(() => hub.close());

describe('model download from the Hub', () => {
  it('fetches the CPU variant pinned to one commit, verified, into a folder that loads', async () => {
    const from = hub.requests.length;
    const { plan, dir } = await download(freshDir(), {}, client({ token: 'hf_secret' }));
    expect(plan.variant).toBe('q4');
    expect(plan.commit).toBe(tiny.commit);
    expect(plan.files.map((f) => f.local).sort()).toEqual(['config.json', 'onnx/model_q4.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    expect(plan.files.find((f) => f.local === 'onnx/model_q4.onnx')?.check).toEqual({ algorithm: 'sha256', digest: tiny.sha256('onnx/model_q4.onnx') });
    expect(plan.files.find((f) => f.local === 'config.json')?.check?.algorithm).toBe('git-sha1');
    for (const f of plan.files) expect(sha256(readFileSync(join(dir, f.local)))).toBe(tiny.sha256(f.remote));
    const sent = hub.requests.slice(from);
    // the first answer names the commit; every file request after it asks for that commit, not "main"
    expect(sent[0].url).toBe(`/api/models/${TINY_REPO}/revision/main`);
    expect(sent.filter((r) => r.url.includes('/resolve/')).every((r) => r.url.includes(`/resolve/${tiny.commit}/`))).toBe(true);
    expect(sent.filter((r) => r.server === 'storage').length).toBe(1);
    expect(sent.some((r) => r.server === 'storage' && r.authorized)).toBe(false); // the token stays with the Hub
    const model = await Model.load(dir);
    expect(model.config.layers).toBe(2);
    await model.dispose();
  });

  it('fetches exactly the files of a named variant: its graph, its external data and the config files', async () => {
    const { dir } = await download(freshDir(), { variant: 'fp16' });
    expect(readdirSync(join(dir, 'onnx')).sort()).toEqual(['model_fp16.onnx', 'model_fp16.onnx_data']);
    expect(existsSync(join(dir, 'README.md'))).toBe(false);
    const err = await failure(download(freshDir(), { variant: 'int3' }));
    expect(err.code).toBe('variant_not_found');
    expect(err.message).toBe(`${TINY_REPO} has no variant "int3"; it has fp32, fp16, q4.`);
  });

  it('says how to get into a gated repo, and gets in with the right token', async () => {
    const none = await failure(download(freshDir(), { repo: 'test-org/Gated' }));
    expect(none.code).toBe('hub_auth');
    expect(none.message).toBe(`test-org/Gated is gated: accept the licence on ${hub.url}/test-org/Gated and set HF_TOKEN to a token of that account.`);
    const wrong = await failure(download(freshDir(), { repo: 'test-org/Gated' }, client({ token: 'hf_other' })));
    expect(wrong.code).toBe('hub_auth');
    expect(wrong.message).toMatch(/this token may not read it/);
    const { dir } = await download(freshDir(), { repo: 'test-org/Gated' }, client({ token: 'hf_good' }));
    expect(existsSync(join(dir, 'onnx', 'model_q4.onnx'))).toBe(true);
  });

  it('names what is missing: a repo, a revision', async () => {
    const repo = await failure(download(freshDir(), { repo: 'test-org/Nope' }));
    expect([repo.code, repo.message]).toEqual(['not_found', `test-org/Nope was not found on ${hub.url} (check the name; a private repo needs HF_TOKEN).`]);
    const rev = await failure(download(freshDir(), { revision: 'v9' }));
    expect([rev.code, rev.message]).toEqual(['not_found', `${TINY_REPO} has no revision "v9".`]);
  });

  it('follows the relative redirect of a renamed repo', async () => {
    hub.rename('old-org/Tiny', TINY_REPO);
    const { plan } = await download(freshDir(), { repo: 'old-org/Tiny' });
    expect(plan.commit).toBe(tiny.commit);
  });

  it('retries 429 and 5xx with backoff, and gives up with a sentence', async () => {
    hub.faults.push({ path: 'onnx/model_q4.onnx', status: 503, times: 2 }, { path: 'onnx/model_q4.onnx', status: 429, retryAfter: 0 });
    const { dir } = await download(freshDir());
    expect(sha256(readFileSync(join(dir, 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
    expect(hub.faults).toEqual([]);
    hub.faults.push({ path: 'onnx/model_q4.onnx', status: 502, times: 3 });
    const err = await failure(download(freshDir(), {}, client({ retries: 2 })));
    expect([err.code, err.message]).toEqual(['hub_unavailable', `${hub.url} answered 502 to every try for ${TINY_REPO}; try again later.`]);
  });

  it('resumes a file whose connection dropped mid-way with a Range request, to the same sha256', async () => {
    const dropAt = 200_001;
    hub.faults.push({ path: 'onnx/model_q4.onnx', dropAfter: dropAt });
    const dir = freshDir();
    const err = await failure(download(dir, {}, client({ retries: 0 })));
    expect(err.code).toBe('truncated');
    const plan = JSON.parse(readFileSync(join(stagingDir(dir, 'Tiny-ONNX-q4'), 'perpetua-download.json'), 'utf8')) as DownloadPlan;
    const part = partFile(join(stagingDir(dir, plan.folder), 'onnx', 'model_q4.onnx'));
    const kept = statSync(part).size; // what arrived before the drop (bytes in flight are lost)
    expect(kept).toBeLessThanOrEqual(dropAt);
    expect(existsSync(join(dir, plan.folder))).toBe(false); // nothing where models are looked for
    const from = hub.requests.length;
    const { dir: done } = await download(dir);
    expect(hub.requests.slice(from).find((r) => r.server === 'storage')?.range).toBe(kept > 0 ? `bytes=${kept}-` : undefined);
    expect(sha256(readFileSync(join(done, 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
    expect(existsSync(part)).toBe(false);
  });

  it('re-fetches a corrupted .part from the start', async () => {
    const dir = freshDir();
    const plan = await planDownload(client(), dir, { repo: TINY_REPO });
    const part = partFile(join(stagingDir(dir, plan.folder), 'onnx', 'model_q4.onnx'));
    mkdirSync(join(part, '..'), { recursive: true });
    writeFileSync(part, Buffer.alloc(100_000, 7)); // what a disk error or another program could leave
    const from = hub.requests.length;
    const final = await runDownload(client(), dir, plan);
    const ranges = hub.requests.slice(from).filter((r) => r.server === 'storage').map((r) => r.range);
    expect(ranges).toEqual(['bytes=100000-', undefined]);
    expect(sha256(readFileSync(join(final, 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
  });

  it('deletes a file whose bytes do not match the announced sha256 and keeps the verified ones', async () => {
    hub.faults.push({ path: 'onnx/model_q4.onnx', corrupt: true, times: 1 });
    const dir = freshDir();
    const err = await failure(download(dir));
    expect(err.code).toBe('checksum_mismatch');
    expect(err.message).toMatch(/^model_q4\.onnx does not match the sha256 the Hub announced \([0-9a-f]{12}…\); it was deleted, try the download again\.$/);
    const staging = stagingDir(dir, 'Tiny-ONNX-q4');
    expect(existsSync(join(staging, 'onnx', 'model_q4.onnx'))).toBe(false);
    expect(existsSync(partFile(join(staging, 'onnx', 'model_q4.onnx')))).toBe(false);
    expect(existsSync(join(staging, 'config.json'))).toBe(true);
    expect(existsSync(join(dir, 'Tiny-ONNX-q4'))).toBe(false);
  });

  it('checks the free disk before fetching anything', async () => {
    const dir = freshDir();
    const c = client();
    const plan = await planDownload(c, dir, { repo: TINY_REPO });
    const from = hub.requests.length;
    const err = await failure(runDownload(c, dir, plan, { freeBytes: async () => 100 * 1024 * 1024 }));
    expect(err.code).toBe('disk_full');
    expect(err.message).toMatch(/^test-org\/Tiny-ONNX needs 1 MiB more on this disk but only 0 MiB is free; make room and try again\.$/);
    expect(hub.requests.length).toBe(from);
  });

  it('stops when cancelled, keeping the part for a resume', async () => {
    const dir = freshDir();
    const c = client();
    const plan = await planDownload(c, dir, { repo: TINY_REPO });
    const abort = new AbortController();
    hub.throttle = 400_000;
    try {
      const err = await failure(
        runDownload(c, dir, plan, { signal: abort.signal, onProgress: (p) => p.bytesDone > 150_000 && abort.abort() }),
      );
      expect(err.code).toBe('cancelled');
    } finally {
      hub.throttle = 0;
    }
    const part = partFile(join(stagingDir(dir, plan.folder), 'onnx', 'model_q4.onnx'));
    expect(statSync(part).size).toBeGreaterThan(100_000);
    const final = await runDownload(c, dir, plan);
    expect(sha256(readFileSync(join(final, 'onnx', 'model_q4.onnx')))).toBe(tiny.sha256('onnx/model_q4.onnx'));
  });

  it('never offers a half-downloaded model: the library sees it only once every file is verified', async () => {
    const dir = freshDir();
    hub.faults.push({ path: 'onnx/model_q4.onnx', dropAfter: 300_000 });
    expect((await failure(download(dir, {}, client({ retries: 0 })))).code).toBe('truncated');
    const core = new CoreService({ dbFile: join(freshDir(), 'chats.db'), modelsDir: dir });
    try {
      expect(await core.modelsList()).toEqual([]);
      await download(dir);
      const listed = await core.modelsList();
      expect(listed.map((m) => [m.name, m.path])).toEqual([['Tiny-ONNX-q4', join(dir, 'Tiny-ONNX-q4')]]);
    } finally {
      await core.close();
    }
  });
});
