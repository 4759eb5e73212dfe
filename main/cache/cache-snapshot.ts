import { encodePolicy } from '../policy/policy-store.js';
import type { PolicySpec } from '../policy/policy.js';
import type { Engine } from '../engine/engine.js';
import type { CacheContents, CachePolicy } from '../engine/cache-policy.js';
import { emptyKv, toHostKv, type KvEditor, type KvGeometry, type LayerKv } from '../engine/layer-kv.js';
import { allocLike, dtypeOf, type HostKvArray, type KvDtype } from '../engine/kv-dtype.js';
import type { Snapshot } from './snapshot-codec.js';
import { PerpetuaError } from '../shared/errors.js';

/** The snapshot holds another cache policy's state (the session's policy changed since it was written). */
export class SnapshotPolicyError extends PerpetuaError {
  override readonly code = 'snapshot_mismatch';
}

/**
 * The policy's cache as a snapshot (the codec serializes it); KV on the GPU is downloaded once, here, through the
 * model's editor. `dtype` is the model's KV dtype (a cache that holds no KV yet, or a recompute one, has no arrays to
 * tell it).
 */
export async function snapshotOf(
  policy: CachePolicy,
  modelFingerprint: string,
  geometry: KvGeometry,
  dtype: KvDtype = 'float32',
  editor?: KvEditor,
): Promise<Snapshot> {
  const c = policy.contents();
  const kv = await toHostKv(c.kv, editor);
  const held = kv.find((l) => l.key.length > 0);
  if (held && dtypeOf(held.key) !== dtype) throw new RangeError(`The cache holds ${dtypeOf(held.key)} KV, not ${dtype}.`);
  return { ...snapshotMeta(policy, c, modelFingerprint, geometry, dtype), kv };
}

/** Everything of a snapshot but its KV. */
function snapshotMeta(policy: CachePolicy, c: CacheContents, modelFingerprint: string, geometry: KvGeometry, dtype: KvDtype): Omit<Snapshot, 'kv'> {
  const stored = encodePolicy(policy.spec);
  return {
    modelFingerprint,
    policy: { name: stored.name, params: { ...stored.params, sinks: c.sinks } },
    dtype,
    geometry,
    tokens: c.tokens,
    originalPositions: c.originalPositions,
    cachePositions: c.cachePositions,
    totalTokensSeen: c.totalTokensSeen,
    history: c.history,
  };
}

/** A cache as a chunked save reads it: everything but the KV, and the KV of the rows it asks for. */
export interface CacheRows {
  meta: Omit<Snapshot, 'kv'>;
  /** tokens with KV: all, or none for a cache that keeps tokens only */
  kvTokens: number;
  /** host KV of these token indices (ascending), keys at their cache positions */
  rows(indices: readonly number[]): Promise<LayerKv[]>;
}

/**
 * The policy's cache for a chunked save: rows are read from an in-place buffer where they lie (only those asked
 * for), else from the whole cache, read once (KV on the GPU downloaded through the model's editor).
 */
export function cacheRowsOf(policy: CachePolicy, modelFingerprint: string, geometry: KvGeometry, dtype: KvDtype, editor?: KvEditor): CacheRows {
  const c = policy.contents();
  const kvTokens = policy.spec.name === 'recompute' ? 0 : c.tokens.length;
  let whole: Promise<LayerKv[]> | null = null;
  return {
    meta: snapshotMeta(policy, c, modelFingerprint, geometry, dtype),
    kvTokens,
    async rows(indices) {
      if (c.kvRows) return c.kvRows(indices);
      whole ??= toHostKv(c.kv, editor);
      const kv = await whole;
      return kv.map((l) => ({ key: pickRows(l.key, geometry, kvTokens, indices), value: pickRows(l.value, geometry, kvTokens, indices) }));
    },
  };
}

/** Rows `indices` (ascending) of a [kvHeads, n, headDim] array, as [kvHeads, indices.length, headDim]. */
function pickRows(a: HostKvArray, g: KvGeometry, n: number, indices: readonly number[]): HostKvArray {
  const out = allocLike(a, g.kvHeads * indices.length * g.headDim);
  for (let h = 0; h < g.kvHeads; h++) {
    for (let j = 0; j < indices.length; ) {
      let k = j + 1;
      while (k < indices.length && indices[k] === indices[k - 1] + 1) k++;
      const from = (h * n + indices[j]) * g.headDim;
      out.set(a.subarray(from, from + (k - j) * g.headDim), (h * indices.length + j) * g.headDim);
      j = k;
    }
  }
  return out;
}

/**
 * Puts a snapshot back into the engine's policy and recomputes the logits of its last token, so decoding
 * continues exactly where it stopped: the last token is removed and fed again at the position it had.
 * A snapshot of another policy or window is refused (the session is rebuilt from its transcript instead).
 */
export async function restoreSnapshot(engine: Engine, s: Snapshot): Promise<void> {
  const spec = engine.policy.spec;
  const p = s.policy.params;
  if (!isSnapshotOf(s, spec)) {
    throw new SnapshotPolicyError(
      `The saved KV cache belongs to the ${s.policy.name} policy (window ${p.window}), not the session's ${spec.name} policy (window ${spec.window}), so the conversation will be rebuilt from its transcript.`,
    );
  }
  await restoreContents(engine, snapshotContents(s));
}

/** Whether the snapshot holds a cache of this policy (its name and sizes). */
export function isSnapshotOf(s: Snapshot, spec: PolicySpec): boolean {
  const p = s.policy.params;
  return s.policy.name === spec.name && p.window === spec.window && (spec.name !== 'sink' || p.sink === spec.sink);
}

/** What a snapshot holds, as cache contents (host KV). */
export function snapshotContents(s: Snapshot): CacheContents<LayerKv> {
  const sinks = s.policy.params.sinks;
  return {
    tokens: s.tokens,
    originalPositions: s.originalPositions,
    cachePositions: s.cachePositions,
    kv: s.kv.length ? s.kv : emptyKv(s.geometry),
    totalTokensSeen: s.totalTokensSeen,
    history: s.history ?? [],
    sinks: typeof sinks === 'number' ? sinks : 0,
  };
}

/**
 * Loads cache contents into the engine's policy and recomputes the logits of the last token, so decoding
 * continues exactly where it stopped: the last token is removed and fed again at the position it had.
 */
export async function restoreContents(engine: Engine, contents: CacheContents<LayerKv>): Promise<void> {
  const g = engine.model.geometry;
  const kvTokens = contents.kv[0]?.key.length ? contents.kv[0].key.length / (g.kvHeads * g.headDim) : 0;
  const last = engine.policy.spec.name === 'recompute' ? contents.history.at(-1) : contents.tokens.at(-1);
  if (last === undefined) {
    engine.policy.restore(contents);
    return;
  }
  engine.policy.restore(withoutLastToken(contents, g, kvTokens));
  await engine.feed([last]);
}

function withoutLastToken(c: CacheContents<LayerKv>, g: KvGeometry, kvTokens: number): CacheContents<LayerKv> {
  const trim = (a: HostKvArray): HostKvArray => {
    if (kvTokens === 0) return a;
    const out = allocLike(a, g.kvHeads * (kvTokens - 1) * g.headDim);
    const row = (kvTokens - 1) * g.headDim;
    for (let h = 0; h < g.kvHeads; h++) out.set(a.subarray(h * kvTokens * g.headDim, h * kvTokens * g.headDim + row), h * row);
    return out;
  };
  return {
    tokens: c.tokens.slice(0, -1),
    originalPositions: c.originalPositions.slice(0, -1),
    cachePositions: c.cachePositions.slice(0, -1),
    kv: c.kv.map((l: LayerKv) => ({ key: trim(l.key), value: trim(l.value) })),
    totalTokensSeen: c.totalTokensSeen - 1,
    history: c.history.slice(0, -1),
    sinks: Math.min(c.sinks, Math.max(0, c.tokens.length - 1)),
  };
}
