import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRowsOf, restoreSnapshot, snapshotOf } from '../cache/cache-snapshot.js';
import { DEFAULT_POLICY, type PolicySpec } from '../policy/policy.js';
import { createPolicy } from '../cache/create-policy.js';
import { decodeSnapshot, encodeSnapshot } from '../cache/snapshot-codec.js';
import { ChunkLedger } from '../cache/chunk-ledger.js';
import { readStoredSnapshot } from '../cache/stored-snapshot.js';
import { Engine } from '../engine/engine.js';
import type { Model } from '../engine/model.js';
import { argmax } from '../engine/sampler.js';
import { openDatabase } from '../store/database.js';
import { Store } from '../store/store.js';

export interface ResumeBenchRow {
  window: number;
  cacheTokens: number;
  snapshotBytes: number;
  /** median ms: read the snapshot from SQLite, decode, restore, first new token */
  snapshotMs: number;
  /** the same from a chunked snapshot written turn by turn (64 tokens a turn): manifest and chunks read, assembled, keys turned */
  chunkedMs: number;
  /** what that chunked snapshot's manifest and chunks take */
  chunkedBytes: number;
  /** median ms: prefill the same cached tokens from scratch, first new token */
  prefillMs: number;
  speedup: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Time to the first new token when a session comes back: from its KV snapshot in SQLite versus
 * re-prefilling the tokens that cache holds. Both end with the same cache and the same next token.
 */
export async function benchResume(model: Model, textFile: string, windows: number[], repeats = 7): Promise<ResumeBenchRow[]> {
  const text = readFileSync(textFile, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-resume-bench-'));
  const store = new Store(openDatabase(join(dir, 'bench.db')));
  const modelRow = store.upsertModel({ name: model.name, dir: model.dir, fingerprint: model.fingerprint });
  const rows: ResumeBenchRow[] = [];
  try {
    for (const window of windows) {
      const spec: PolicySpec = { ...DEFAULT_POLICY, name: 'sink', sink: 4, window };
      const session = store.createSession({ name: `L${window}`, modelId: modelRow.id, policy: 'sink', policyParams: { sink: spec.sink, window: spec.window, pinSystem: spec.pinSystem, evictChunk: spec.evictChunk } });
      const tokens = model.tokenizer.encode(text.slice(0, window * 12), true).slice(0, Math.round(window * 1.5));
      const source = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
      // fed turn by turn, each saved as a chunked snapshot (what a chat writes), evictions and all
      const chunked = store.createSession({ name: `L${window}-chunked`, modelId: modelRow.id, policy: 'sink', policyParams: { sink: spec.sink, window: spec.window, pinSystem: spec.pinSystem, evictChunk: spec.evictChunk } });
      const ledger = new ChunkLedger(source.policy);
      for (let at = 0; at < tokens.length; at += 64) {
        await source.feed(tokens.slice(at, at + 64), { chunk: 256 });
        const save = await ledger.plan(cacheRowsOf(source.policy, model.fingerprint, model.geometry, model.kvDtype, model.kvEditor));
        store.chunks.save(chunked.id, null, save);
        ledger.commit(save);
      }
      const expected = argmax(source.logits!);
      const bytes = encodeSnapshot(await snapshotOf(source.policy, model.fingerprint, model.geometry, model.kvDtype, model.kvEditor));
      store.saveSnapshot(session.id, null, bytes);
      const kept = source.policy.contents().tokens;

      const snapshotTimes: number[] = [];
      const chunkedTimes: number[] = [];
      const prefillTimes: number[] = [];
      for (let r = 0; r < repeats; r++) {
        let t = performance.now();
        const restored = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
        const snap = store.latestSnapshot(session.id)!;
        await restoreSnapshot(restored, decodeSnapshot(snap.bytes, { modelFingerprint: model.fingerprint }));
        if (argmax(restored.logits!) !== expected) throw new Error('The restored cache predicts another token.');
        snapshotTimes.push(performance.now() - t);

        t = performance.now();
        const fromChunks = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
        const manifest = store.latestSnapshot(chunked.id)!;
        const read = readStoredSnapshot(manifest.bytes, { modelFingerprint: model.fingerprint, rope: model.config.rope }, (h) => store.chunks.load(chunked.id, h));
        await restoreSnapshot(fromChunks, read.snapshot);
        if (argmax(fromChunks.logits!) !== expected) throw new Error('The cache restored from chunks predicts another token.');
        chunkedTimes.push(performance.now() - t);
        fromChunks.policy.dispose();

        t = performance.now();
        const rebuilt = new Engine(model, createPolicy(spec, model.config, model.kvEditor));
        await rebuilt.feed(kept, { chunk: 256 });
        argmax(rebuilt.logits!);
        prefillTimes.push(performance.now() - t);
      }
      const snapshotMs = median(snapshotTimes);
      const prefillMs = median(prefillTimes);
      const chunkedMs = median(chunkedTimes);
      rows.push({ window, cacheTokens: kept.length, snapshotBytes: bytes.byteLength, snapshotMs, chunkedMs, chunkedBytes: store.chunks.bytesUsed(chunked.id), prefillMs, speedup: prefillMs / snapshotMs });
    }
  } finally {
    store.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
