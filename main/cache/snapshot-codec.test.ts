import { describe, expect, it } from 'vitest';
import { emptyKv, type KvGeometry } from '../engine/layer-kv.js';
import {
  FORMAT_VERSION,
  SnapshotCorruptError,
  SnapshotInvalidError,
  SnapshotMismatchError,
  SnapshotVersionError,
  decodeSnapshot,
  encodeSnapshot,
  type Snapshot,
} from './snapshot-codec.js';
import { createHash } from 'node:crypto';
import { mulberry32 as rng } from '../../native-models/seeded-random.js';

const FP = 'sha256:tiny-llama-test';


function makeSnapshot(n: number, g: KvGeometry, seed = 1): Snapshot {
  const r = rng(seed);
  const sink = Math.min(4, n);
  const total = n + 5000;
  const originalPositions = Array.from({ length: n }, (_, i) => (i < sink ? i : total - (n - i)));
  const floats = () => Float32Array.from({ length: g.kvHeads * n * g.headDim }, () => (r() - 0.5) * 8);
  return {
    modelFingerprint: FP,
    policy: { name: 'sink', params: { sink: 4, window: 1020, pinSystem: true, evictChunk: 64 } },
    dtype: 'float32',
    geometry: g,
    tokens: Array.from({ length: n }, () => Math.floor(r() * 32000)),
    originalPositions,
    cachePositions: Array.from({ length: n }, (_, i) => i),
    totalTokensSeen: total,
    history: [],
    kv: Array.from({ length: g.layers }, () => ({ key: floats(), value: floats() })),
  };
}

function expectSame(a: Snapshot, b: Snapshot): void {
  const { kv: kvA, ...restA } = a;
  const { kv: kvB, ...restB } = b;
  expect(restB).toStrictEqual(restA);
  expect(kvB.length).toBe(kvA.length);
  // Bit patterns, not values: NaN payloads and -0 must survive too (and this is fast on big arrays).
  const bits = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  for (const [i, layer] of kvA.entries()) {
    expect(kvB[i].key).toBeInstanceOf(Float32Array);
    expect(bits(kvB[i].key).equals(bits(layer.key)), `layer ${i} key`).toBe(true);
    expect(bits(kvB[i].value).equals(bits(layer.value)), `layer ${i} value`).toBe(true);
  }
}

function refusal(bytes: Uint8Array): unknown {
  try {
    decodeSnapshot(bytes, { modelFingerprint: FP });
  } catch (error) {
    return error;
  }
  return undefined;
}

const SMALL: KvGeometry = { layers: 2, kvHeads: 2, headDim: 4 };
const BIG: KvGeometry = { layers: 2, kvHeads: 4, headDim: 64 };

describe('snapshot codec', () => {
  it('round-trips a 1024-token, 2-layer cache exactly', () => {
    const s = makeSnapshot(1024, BIG);
    // Special float values must survive bit for bit.
    s.kv[0].key.set([Number.NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38], 0);
    const bytes = encodeSnapshot(s);
    // prefix + header + 3 int32 arrays + key/value of 2 layers + SHA-256: no padding, nothing else.
    const headerLength = Buffer.from(bytes).readUInt32LE(8);
    expect(bytes.byteLength).toBe(12 + headerLength + 4 * 3 * 1024 + 4 * 2 * 2 * (4 * 1024 * 64) + 32);
    expect(Buffer.from(bytes.subarray(0, 6)).toString('latin1')).toBe('PRPKV\0');
    expectSame(s, decodeSnapshot(bytes, { modelFingerprint: FP }));
  });

  it('decodes from an unaligned buffer into aligned arrays that do not share the input', () => {
    const s = makeSnapshot(1024, BIG, 7);
    const bytes = encodeSnapshot(s);
    const backing = new Uint8Array(bytes.byteLength + 3);
    backing.set(bytes, 3);
    const unaligned = backing.subarray(3);
    const decoded = decodeSnapshot(unaligned, { modelFingerprint: FP });
    expectSame(s, decoded);
    for (const layer of decoded.kv) {
      expect(layer.key.byteOffset % 4).toBe(0);
      expect(layer.key.buffer).not.toBe(backing.buffer);
      expect(layer.value.buffer).not.toBe(layer.key.buffer);
    }
    backing.fill(0);
    expectSame(s, decoded);
  });

  it('keeps the absence of history distinct from an empty history, and tokens-only caches', () => {
    const s = makeSnapshot(10, SMALL);
    delete s.history;
    const back = decodeSnapshot(encodeSnapshot(s), { modelFingerprint: FP });
    expect('history' in back).toBe(false);
    expectSame(s, back);

    const recompute: Snapshot = {
      ...makeSnapshot(0, SMALL),
      policy: { name: 'recompute', params: { window: 8 } },
      history: [5, 6, 7, 8, -1, 2147483647],
      kv: emptyKv(SMALL),
    };
    expectSame(recompute, decodeSnapshot(encodeSnapshot(recompute), { modelFingerprint: FP }));

    const tokensOnly: Snapshot = { ...makeSnapshot(6, SMALL), kv: emptyKv(SMALL) };
    expectSame(tokensOnly, decodeSnapshot(encodeSnapshot(tokensOnly), { modelFingerprint: FP }));
  });

  it('refuses every single-bit flip in a small snapshot, and random flips in a large one', () => {
    const small = encodeSnapshot(makeSnapshot(8, SMALL));
    for (let byte = 0; byte < small.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = small.slice();
        copy[byte] ^= 1 << bit;
        const error = refusal(copy);
        expect(error, `flip at byte ${byte} bit ${bit}`).toBeInstanceOf(SnapshotCorruptError);
      }
    }
    const big = encodeSnapshot(makeSnapshot(1024, BIG, 3));
    const r = rng(99);
    for (let i = 0; i < 300; i++) {
      const at = Math.floor(r() * big.length);
      const copy = big.slice();
      copy[at] ^= 1 << Math.floor(r() * 8);
      expect(refusal(copy), `flip at byte ${at}`).toBeInstanceOf(SnapshotCorruptError);
    }
  });

  it('refuses every truncation', () => {
    const bytes = encodeSnapshot(makeSnapshot(8, SMALL));
    for (let len = 0; len < bytes.length; len++) {
      expect(refusal(bytes.subarray(0, len)), `truncated to ${len}`).toBeInstanceOf(SnapshotCorruptError);
    }
    // Extra bytes after the checksum are corruption as well.
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(refusal(longer)).toBeInstanceOf(SnapshotCorruptError);
  });

  it('refuses a snapshot of another model', () => {
    const bytes = encodeSnapshot(makeSnapshot(16, SMALL));
    const error = (() => {
      try {
        decodeSnapshot(bytes, { modelFingerprint: 'sha256:other-model' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SnapshotMismatchError);
    expect((error as SnapshotMismatchError).found).toBe(FP);
    expect((error as Error).message).toMatch(/different model/);
  });

  it('refuses a format version it does not know, even with a valid checksum', () => {
    const bytes = Buffer.from(encodeSnapshot(makeSnapshot(4, SMALL)));
    bytes.writeUInt16LE(FORMAT_VERSION + 1, 6);
    const body = bytes.subarray(0, bytes.length - 32);
    createHash('sha256').update(body).digest().copy(bytes, body.length);
    const error = refusal(bytes);
    expect(error).toBeInstanceOf(SnapshotVersionError);
    expect((error as SnapshotVersionError).found).toBe(FORMAT_VERSION + 1);
  });

  it('refuses garbage and checksum-valid files with inconsistent lengths', () => {
    expect(refusal(new Uint8Array(0))).toBeInstanceOf(SnapshotCorruptError);
    expect(refusal(Buffer.from('SQLite format 3\0'.padEnd(200, 'x')))).toBeInstanceOf(SnapshotCorruptError);
    // A buggy writer: the header claims more tokens than the file holds, checksum recomputed.
    const good = Buffer.from(encodeSnapshot(makeSnapshot(4, SMALL)));
    const headerLength = good.readUInt32LE(8);
    const header = good.toString('utf8', 12, 12 + headerLength).replace('"tokenCount":4', '"tokenCount":5').replace('"kvTokens":4', '"kvTokens":5');
    const forged = Buffer.concat([good.subarray(0, 12), Buffer.from(header), good.subarray(12 + headerLength, good.length - 32)]);
    forged.writeUInt32LE(Buffer.byteLength(header), 8);
    const withSum = Buffer.concat([forged, createHash('sha256').update(forged).digest()]);
    const error = refusal(withSum);
    expect(error).toBeInstanceOf(SnapshotCorruptError);
    expect((error as Error).message).toMatch(/inconsistent lengths/);
  });

  it('refuses to encode an inconsistent snapshot', () => {
    const s = makeSnapshot(4, SMALL);
    expect(() => encodeSnapshot({ ...s, cachePositions: [0, 1, 2] })).toThrow(SnapshotInvalidError);
    expect(() => encodeSnapshot({ ...s, kv: s.kv.slice(1) })).toThrow(SnapshotInvalidError);
    expect(() => encodeSnapshot({ ...s, tokens: [1, 2, 3, 2 ** 31] })).toThrow(SnapshotInvalidError);
    expect(() => encodeSnapshot({ ...s, policy: { name: 'sink', params: { sink: Number.NaN } } })).toThrow(
      SnapshotInvalidError,
    );
  });
});
