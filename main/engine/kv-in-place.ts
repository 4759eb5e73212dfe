import type ort from 'onnxruntime-node';
import { decoderFeeds, decoderFetches, logitsOf, type DecoderLayout } from './decoder-layout.js';
import { toFloat32, type HostKvArray } from './kv-dtype.js';
import { KvBuffer } from './kv-buffer.js';
import type { KvGeometry, PastKv } from './layer-kv.js';

/** Largest difference between the two paths' logits and KV that still counts as the same computation. */
const TOLERANCE = 1e-3;

/**
 * Whether the graph writes its present KV into the past buffer it is given, in place: onnxruntime's CPU
 * GroupQueryAttention does when past and present are one buffer (past_present_share_buffer); graphs that
 * Concat past and new KV (standard exports) refuse a present of the buffer's shape. Checked by decoding two
 * tokens both ways, one token per run (quantized matrix kernels round differently for one row than for several):
 * into new arrays, and into a 3-token buffer. Only graphs that place tokens at the cache length (no position_ids)
 * qualify.
 */
export async function writesKvInPlace(session: ort.InferenceSession, layout: DecoderLayout, g: KvGeometry): Promise<boolean> {
  if (layout.positionIds || layout.cacheBranch) return false;
  const ids = [1, 2];
  const step = (past: PastKv, tokens: number[], pastLength: number) =>
    decoderFeeds(layout, g, { ids: tokens, positions: tokens.map((_, i) => pastLength + i), past, pastLength, allLogits: true });
  try {
    const first = await session.run(step([], [ids[0]], 0));
    const past = Array.from({ length: g.layers }, (_, l) => ({
      key: first[`present.${l}.key`].data as HostKvArray,
      value: first[`present.${l}.value`].data as HostKvArray,
    }));
    const second = await session.run(step(past, [ids[1]], 1));
    const buffer = new KvBuffer(g, 3, layout.kvDtype);
    let last: Float32Array = new Float32Array(0);
    for (const [i, id] of ids.entries()) {
      // a graph that refuses the buffer says so in onnxruntime's log: the answer here is "no", not an error
      const out = await session.run(step(buffer, [id], i), decoderFetches(session.outputNames, buffer), { logSeverityLevel: 4 });
      buffer.setLength(i + 1);
      last = logitsOf(out.logits);
    }
    const kv = buffer.compact();
    return (
      close(last, logitsOf(second.logits)) &&
      kv.every((l, n) => close(toFloat32(l.key), wide(second[`present.${n}.key`])) && close(toFloat32(l.value), wide(second[`present.${n}.value`])))
    );
  } catch {
    return false; // e.g. "shape verification failed": the graph allocates its own present
  }
}

function wide(t: ort.Tensor | undefined): Float32Array {
  return t ? toFloat32(t.data as HostKvArray) : new Float32Array(0);
}

function close(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= TOLERANCE)) return false;
  return true;
}
