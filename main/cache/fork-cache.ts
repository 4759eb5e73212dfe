import type { RopeSpec } from '../engine/model-config.js';
import type { PolicySpec } from '../policy/policy.js';
import type { CacheContents } from '../engine/cache-policy.js';
import { emptyKv, type KvGeometry, type LayerKv } from '../engine/layer-kv.js';
import { allocLike } from '../engine/kv-dtype.js';
import { rotateKeys } from './rope-rotation.js';

/**
 * Derives the cache another policy would hold from an existing one, without running the model: keep the tokens
 * that policy keeps and turn each key to its new position (RoPE rotations compose). Returns null when the
 * source lacks what the target needs (a dense cache after evictions, sinks that were already evicted, KV for a
 * recompute source); the caller then rebuilds from the transcript.
 */
export function forkCache(
  c: CacheContents<LayerKv>,
  target: PolicySpec,
  g: KvGeometry,
  rope: RopeSpec,
): CacheContents<LayerKv> | null {
  if (target.name === 'recompute') {
    const tokens = c.history.length ? c.history : c.tokens;
    const need = Math.min(target.window, c.totalTokensSeen);
    if (tokens.length < need) return null;
    return { ...empty(g, c.totalTokensSeen), history: tokens.slice(-target.window) };
  }
  if (c.kv[0].key.length === 0 && c.totalTokensSeen > 0) return null; // tokens only, no KV to reuse
  const atStart = (i: number) => c.originalPositions[i] === i;
  let keep: number[];
  let sinks = 0;
  if (target.name === 'dense') {
    if (c.tokens.length !== c.totalTokensSeen || !c.tokens.every((_, i) => atStart(i))) return null;
    keep = c.tokens.map((_, i) => i);
  } else {
    const wanted = target.name === 'sink' ? target.sink : 0;
    while (sinks < wanted && sinks < c.tokens.length && atStart(sinks)) sinks++;
    if (sinks < Math.min(wanted, c.totalTokensSeen)) return null; // the stream's first tokens are gone
    const recent = Math.min(target.window, c.tokens.length - sinks);
    keep = [...Array(sinks).keys(), ...Array.from({ length: recent }, (_, i) => c.tokens.length - recent + i)];
  }
  const positions = target.name === 'dense' ? keep.map((i) => c.originalPositions[i]) : keep.map((_, j) => j);
  const n = c.tokens.length;
  const row = g.headDim;
  const kv = c.kv.map(({ key, value }) => {
    const k = allocLike(key, g.kvHeads * keep.length * row);
    const v = allocLike(value, g.kvHeads * keep.length * row);
    for (let h = 0; h < g.kvHeads; h++) {
      keep.forEach((src, dst) => {
        const from = (h * n + src) * row;
        const to = (h * keep.length + dst) * row;
        k.set(key.subarray(from, from + row), to);
        v.set(value.subarray(from, from + row), to);
      });
    }
    // turn every kept key from the position it was encoded at to its new one
    keep.forEach((src, dst) => {
      const delta = positions[dst] - c.cachePositions[src];
      if (delta === 0) return;
      for (let h = 0; h < g.kvHeads; h++) {
        const one = k.subarray((h * keep.length + dst) * row, (h * keep.length + dst + 1) * row);
        rotateKeys(one, 1, row, 0, 1, delta, rope);
      }
    });
    return { key: k, value: v };
  });
  return {
    tokens: keep.map((i) => c.tokens[i]),
    originalPositions: keep.map((i) => c.originalPositions[i]),
    cachePositions: positions,
    kv,
    totalTokensSeen: c.totalTokensSeen,
    history: [],
    sinks,
  };
}

function empty(g: KvGeometry, seen: number): CacheContents<LayerKv> {
  return { tokens: [], originalPositions: [], cachePositions: [], kv: emptyKv(g), totalTokensSeen: seen, history: [], sinks: 0 };
}
