import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError } from './download-error.js';
import { fetchFile, partFile, type FileTarget } from './file-download.js';
import { sha256, startFakeHub, type FakeHub } from './fixtures/fake-hub.js';
import { HubClient } from './hub-client.js';

let hub: FakeHub;
const lfsBody = randomBytes(97);
const gitBody = Buffer.from('{"model_type": "llama", "note": "a small file kept in git, checked by its blob id"}');
const dir = mkdtempSync(join(tmpdir(), 'perpetua-file-'));

async function target(c: HubClient, path: string, dest: string): Promise<FileTarget> {
  const meta = await c.fileMeta('o/r', 'main', path);
  return { url: c.resolveUrl('o/r', 'main', path), dest, size: meta.size, check: meta.check, etag: meta.etag };
}

/** GET requests from now on (a getter). */
const storageOrHubGets = () => {
  const from = hub.requests.length;
  return () => hub.requests.slice(from).filter((r) => r.method === 'GET');
};
const storageRanges = (from: number) => hub.requests.slice(from).filter((r) => r.server === 'storage').map((r) => r.range);

beforeAll(async () => {
  hub = await startFakeHub();
  hub.addRepo('o/r', { files: { 'w.onnx': lfsBody, 'config.json': gitBody } });
});
afterAll(() => hub.close());

describe('one file from the Hub', () => {
  for (const [path, body] of [['w.onnx', lfsBody], ['config.json', gitBody]] as const) {
    it(`resumes ${path} killed after any byte to the same hash`, async () => {
      const c = new HubClient({ endpoint: hub.url, retries: 0 });
      const t = await target(c, path, join(dir, `killed-${path}`));
      expect(t.check?.algorithm).toBe(path === 'w.onnx' ? 'sha256' : 'git-sha1');
      for (let cut = 0; cut <= body.length; cut++) {
        writeFileSync(partFile(t.dest), body.subarray(0, cut)); // what a SIGKILL after `cut` bytes leaves
        const from = hub.requests.length;
        await fetchFile(c, t);
        expect(sha256(readFileSync(t.dest))).toBe(sha256(body));
        const last = hub.requests.slice(from).filter((r) => r.method === 'GET').at(-1);
        expect(last === undefined ? 'none' : (last.range ?? null)).toBe(cut === body.length ? 'none' : cut === 0 ? null : `bytes=${cut}-`);
      }
    });

    it(`resumes ${path} after the connection drops at any byte`, async () => {
      const c = new HubClient({ endpoint: hub.url, retries: 0 });
      const t = await target(c, path, join(dir, `dropped-${path}`));
      for (let cut = 0; cut < body.length; cut += 7) {
        rmSync(t.dest, { force: true });
        writeFileSync(partFile(t.dest), '');
        hub.faults.push({ path, dropAfter: cut });
        const err = await fetchFile(c, t).then(() => null, (e: unknown) => e as DownloadError);
        expect(err?.code).toBe('truncated');
        // bytes still in flight when the socket dies are lost; the part holds what arrived, never more
        const kept = statSync(partFile(t.dest)).size;
        expect(kept).toBeLessThanOrEqual(cut);
        expect(existsSync(t.dest)).toBe(false);
        const from = storageOrHubGets();
        await fetchFile(c, t);
        expect(from().at(-1)?.range).toBe(kept > 0 ? `bytes=${kept}-` : undefined);
        expect(sha256(readFileSync(t.dest))).toBe(sha256(body));
      }
    });
  }

  it('starts over when the server ignores the Range (200) or the ETag no longer matches', async () => {
    const c = new HubClient({ endpoint: hub.url, retries: 0 });
    const t = await target(c, 'w.onnx', join(dir, 'etag.onnx'));
    writeFileSync(partFile(t.dest), lfsBody.subarray(0, 50));
    hub.faults.push({ path: 'w.onnx', ignoreRange: true });
    await fetchFile(c, t);
    expect(sha256(readFileSync(t.dest))).toBe(sha256(lfsBody));
    writeFileSync(partFile(t.dest), Buffer.alloc(50)); // bytes of another version of the file
    const from = hub.requests.length;
    await fetchFile(c, { ...t, etag: '"an-older-etag"', dest: t.dest });
    expect(storageRanges(from)).toEqual(['bytes=50-']); // answered 200 by If-Range: one request
    expect(sha256(readFileSync(t.dest))).toBe(sha256(lfsBody));
  });

  it('drops a part the server answers 416 to, and reports a file that stays short', async () => {
    const c = new HubClient({ endpoint: hub.url, retries: 1, backoffMs: 1 });
    const t = await target(c, 'w.onnx', join(dir, 'long.onnx'));
    const claimed = { ...t, size: t.size + 3, check: null }; // a size that no longer fits the file on the server
    writeFileSync(partFile(t.dest), lfsBody);
    const from = hub.requests.length;
    const err = await fetchFile(c, claimed).then(() => null, (e: unknown) => e as DownloadError);
    expect(err?.code).toBe('truncated');
    expect(storageRanges(from)).toEqual([`bytes=${lfsBody.length}-`, undefined]);
    expect(existsSync(t.dest)).toBe(false);
  });
});
