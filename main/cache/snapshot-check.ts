import type { KvGeometry } from '../engine/layer-kv.js';
import { SnapshotCorruptError, type Snapshot } from './snapshot-codec.js';

/** What a snapshot must agree with to be put into a cache. */
export interface SnapshotExpectation {
  geometry: KvGeometry;
  vocabSize: number;
  /** the most tokens the session's cache can hold */
  capacity: number;
}

/**
 * The checks a snapshot must pass beyond its checksum: a writer bug (or an edit that re-sealed the file) yields
 * bytes that are intact but wrong, and those would resume as if fine — empty answers from NaN or zeroed KV,
 * or a crash on every reopen from a sink count past the cache. Throws SnapshotCorruptError with the reason.
 */
export function checkSnapshot(s: Snapshot, expect: SnapshotExpectation): void {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const g = s.geometry;
  const e = expect.geometry;
  if (g.layers !== e.layers || g.kvHeads !== e.kvHeads || g.headDim !== e.headDim) corrupt('its shape is not the model’s');
  const n = s.tokens.length;
  if (n > expect.capacity) corrupt(`it holds ${n} tokens, more than the cache’s ${expect.capacity}`);
  if (s.totalTokensSeen < n) corrupt('it holds more tokens than it has seen');
  const token = (t: number) => Number.isInteger(t) && t >= 0 && t < expect.vocabSize;
  if (!s.tokens.every(token) || !(s.history ?? []).every(token)) corrupt('it holds token ids the model does not have');
  if (!increasingWithin(s.originalPositions, s.totalTokensSeen) || !increasingWithin(s.cachePositions, s.totalTokensSeen)) {
    corrupt('its token positions are out of order or out of range');
  }
  const sinks = s.policy.params.sinks ?? 0;
  if (typeof sinks !== 'number' || !Number.isInteger(sinks) || sinks < 0 || sinks > n) corrupt(`its sink count ${String(sinks)} does not fit its ${n} tokens`);
  for (const [i, layer] of s.kv.entries()) {
    for (const values of [layer.key, layer.value]) {
      if (values.length === 0) continue;
      const problem = values instanceof Uint16Array ? float16Problem(values) : float32Problem(values);
      if (problem) corrupt(`layer ${i} ${problem}`);
    }
  }
}

function increasingWithin(positions: number[], limit: number): boolean {
  let last = -1;
  for (const p of positions) {
    if (!Number.isInteger(p) || p <= last || p >= limit) return false;
    last = p;
  }
  return true;
}

function float32Problem(values: Float32Array): string | null {
  let nonZero = false;
  for (const v of values) {
    if (!Number.isFinite(v)) return 'holds NaN or infinite values';
    if (v !== 0) nonZero = true;
  }
  return nonZero ? null : 'is all zeros';
}

/** float16 as bit patterns: exponent bits all set is Inf or NaN; ±0 is 0x0000 or 0x8000. */
function float16Problem(bits: Uint16Array): string | null {
  let nonZero = false;
  for (const b of bits) {
    if ((b & 0x7c00) === 0x7c00) return 'holds NaN or infinite values';
    if ((b & 0x7fff) !== 0) nonZero = true;
  }
  return nonZero ? null : 'is all zeros';
}
