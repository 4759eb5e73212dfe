import { cpSync, mkdtempSync, openSync, closeSync, statSync, utimesSync, writeSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModelDir } from '../../native-models/test-models.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { snapshotOf } from '../cache/cache-snapshot.js';
import { createPolicy } from '../cache/create-policy.js';
import { decodeSnapshot, encodeSnapshot, SnapshotMismatchError } from '../cache/snapshot-codec.js';
import { CoreService } from '../core/core-service.js';
import { Engine } from './engine.js';
import { Model } from './model.js';
import { WeightHashes } from './model-fingerprint.js';
import { readOnnxContents, type InitializerInfo } from './onnx-contents.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'perpetua-identity-'));

/**
 * A copy of `src` with 64 KiB of weights zeroed mid-file: the middle of the weight nearest the middle of `file`
 * (outside its first and last MiB, which the old fingerprint read).
 */
function zeroedCopy(src: string, file: string): string {
  const dir = scratch();
  cpSync(src, dir, { recursive: true });
  const path = join(dir, file);
  const size = statSync(path).size;
  const inFile = (t: InitializerInfo) => (file.endsWith('.onnx') ? t.inline : t.external);
  const nearest = readOnnxContents(join(dir, 'onnx', 'model.onnx')).initializers
    .map(inFile)
    .filter((at) => at !== null && at.length >= 4 * 65536)
    .map((at) => ({ at: at!.offset + Math.floor(at!.length / 2) - 32768 }))
    .sort((a, b) => Math.abs(a.at - size / 2) - Math.abs(b.at - size / 2))[0];
  expect(nearest.at).toBeGreaterThan(1 << 20);
  expect(nearest.at + 65536).toBeLessThan(size - (1 << 20));
  const fd = openSync(path, 'r+');
  writeSync(fd, new Uint8Array(65536), 0, 65536, nearest.at);
  closeSync(fd);
  return dir;
}

describe('model identity', () => {
  it('tells a copy with 64 KiB zeroed mid-file apart, in the graph file and in its external data file', async () => {
    // graph files past 2 MiB, so the zeroed range lies outside the first and last MiB
    const inline = testModelDir({ intermediateSize: 2048, layers: 4 });
    const external = testModelDir({ intermediateSize: 2048, layers: 4, externalData: true });
    for (const [src, file] of [[inline, 'onnx/model.onnx'], [external, 'onnx/model.onnx_data']] as const) {
      expect(statSync(join(src, file)).size).toBeGreaterThan(3 << 20);
      const same = scratch();
      cpSync(src, same, { recursive: true });
      const original = await Model.load(src);
      const copy = await Model.load(same);
      const damaged = await Model.load(zeroedCopy(src, file));
      expect(copy.fingerprint).toBe(original.fingerprint);
      expect(damaged.fingerprint).not.toBe(original.fingerprint);

      // the damaged copy refuses the original's snapshots
      const engine = new Engine(original, createPolicy(DEFAULT_POLICY, original.config));
      await engine.feed([1, 40, 41, 42]);
      const bytes = encodeSnapshot(await snapshotOf(engine.policy, original.fingerprint, original.geometry));
      expect(() => decodeSnapshot(bytes, { modelFingerprint: damaged.fingerprint })).toThrow(SnapshotMismatchError);
      await Promise.all([original.dispose(), copy.dispose(), damaged.dispose()]);
    }
  });

  it('importing a changed copy adds a library entry and leaves the original entry as it was', async () => {
    const src = testModelDir({ intermediateSize: 2048, layers: 4, externalData: true });
    const core = new CoreService({ dbFile: join(scratch(), 'perpetua.db') });
    const original = await core.modelsImport({ dir: src });
    const changed = await core.modelsImport({ dir: zeroedCopy(src, 'onnx/model.onnx_data') });
    expect(changed.id).not.toBe(original.id);
    const listed = await core.modelsList();
    expect(listed.map((m) => m.path).sort()).toEqual([original.path, changed.path].sort());
    expect(listed.find((m) => m.id === original.id)!.path).toBe(src);
    await core.close();
  });

  it('caches each weight file hash by path, size, mtime and inode, in a file the next process reads', async () => {
    const dir = scratch();
    const file = join(dir, 'w.bin');
    writeFileSync(file, new Uint8Array(1 << 20).fill(7));
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    utimesSync(file, mtime, mtime);
    const cacheFile = join(dir, 'cache', 'weight-hashes.json');
    const first = await new WeightHashes(cacheFile).sha256(file);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))[file].sha256).toBe(first);

    // same size, mtime and inode: the next process takes the cached hash without reading the file
    const fd = openSync(file, 'r+');
    writeSync(fd, Uint8Array.of(8), 0, 1, 500);
    closeSync(fd);
    utimesSync(file, mtime, mtime);
    expect(await new WeightHashes(cacheFile).sha256(file)).toBe(first);

    // a new mtime: hashed again
    utimesSync(file, mtime, new Date(mtime.getTime() + 5000));
    const again = await new WeightHashes(cacheFile).sha256(file);
    expect(again).not.toBe(first);
    expect(await new WeightHashes(null).sha256(file)).toBe(again);
  });
});
