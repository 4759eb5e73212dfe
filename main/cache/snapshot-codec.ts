import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { isPolicyName } from '../policy/policy.js';
import type { StoredPolicy } from '../policy/policy-store.js';
import type { KvGeometry, LayerKv } from '../engine/layer-kv.js';
import { allocKv, bytesPerElement, KV_DTYPES, type HostKvArray, type KvDtype } from '../engine/kv-dtype.js';
import { PerpetuaError } from '../shared/errors.js';

/**
 * Binary, versioned, checksummed KV-cache snapshot (see DESIGN.md, "A snapshot is").
 *
 * Layout (all integers little-endian):
 *   "PRPKV\0"                      6 bytes magic
 *   u16 format version             (FORMAT_VERSION)
 *   u32 header length H
 *   H bytes UTF-8 JSON header      (SnapshotHeader: everything except the big numeric arrays)
 *   i32[n]  tokens                 n = header.tokenCount
 *   i32[n]  originalPositions
 *   i32[n]  cachePositions
 *   i32[h]  history                h = header.historyCount ?? 0
 *   KV      layer by layer, key then value, each [kvHeads, kvTokens, headDim] of header.dtype
 *           (f32, or f16 as IEEE half-precision bit patterns)
 *   32 bytes SHA-256 of everything before it
 * The trailing SHA-256 is fixed for every format version, so corruption is told apart from a newer
 * format: the checksum is verified before the version is judged. Version 2 (snapshot-manifest.ts) is the chunked
 * format: the same frame holding a manifest whose KV lives in separate chunks (snapshot-chunk.ts).
 */

export interface Snapshot {
  modelFingerprint: string;
  policy: StoredPolicy;
  /** the element type of every KV array */
  dtype: KvDtype;
  geometry: KvGeometry;
  /** Token ids in cache order. */
  tokens: number[];
  /** Absolute position in the stream of each cached token. */
  originalPositions: number[];
  /** Position id each cached token was encoded at, inside the cache. */
  cachePositions: number[];
  totalTokensSeen: number;
  /** Extra token ids a policy needs (recompute keeps tokens, not KV). */
  history?: number[];
  /**
   * One entry per layer. Each holds either KV for every cached token
   * (kvHeads * tokens.length * headDim floats in key and in value) or none at all (length 0, as
   * `emptyKv` gives, for a policy that keeps tokens only).
   */
  kv: LayerKv[];
}

export const FORMAT_VERSION = 1;
export const MAGIC = Buffer.from('PRPKV\0', 'latin1');
export const PREFIX = MAGIC.length + 2 + 4;
export const CHECKSUM_BYTES = 32;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** What the JSON header holds (format version 1). */
export interface SnapshotHeader {
  modelFingerprint: string;
  policy: Snapshot['policy'];
  dtype: KvDtype;
  geometry: KvGeometry;
  totalTokensSeen: number;
  tokenCount: number;
  /** null: the snapshot had no `history` (as opposed to an empty one). */
  historyCount: number | null;
  /** Tokens held by each layer's KV: tokenCount, or 0 for a tokens-only cache. */
  kvTokens: number;
}

/** The snapshot bytes are damaged: bad magic, truncated, checksum mismatch or inconsistent lengths. */
export class SnapshotCorruptError extends PerpetuaError {
  override name = 'SnapshotCorruptError';
  override readonly code = 'snapshot_mismatch';
  constructor(readonly reason: string) {
    super(`The saved KV cache is damaged (${reason}), so the conversation will be rebuilt from its transcript.`);
  }
}

/** The snapshot was written in a format version this build does not read. */
export class SnapshotVersionError extends PerpetuaError {
  override name = 'SnapshotVersionError';
  override readonly code = 'snapshot_mismatch';
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `The saved KV cache uses format version ${found}, which this version of Perpetua cannot read (it reads ${supported}), so the conversation will be rebuilt from its transcript.`,
    );
  }
}

/** The snapshot was made with a different model than the one loaded. */
export class SnapshotMismatchError extends PerpetuaError {
  override name = 'SnapshotMismatchError';
  override readonly code = 'snapshot_mismatch';
  constructor(
    readonly expected: string,
    readonly found: string,
  ) {
    super('The saved KV cache was made with a different model, so the conversation will be rebuilt from its transcript.');
  }
}

/** The snapshot handed to `encodeSnapshot` is not self-consistent (a bug in the caller, not in the data). */
export class SnapshotInvalidError extends PerpetuaError {
  override name = 'SnapshotInvalidError';
  constructor(readonly reason: string) {
    super(`The KV cache could not be saved because its data is inconsistent (${reason}).`);
  }
}

/** Serialises a snapshot. Each KV array is copied exactly once, straight into the output. */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  const n = s.tokens.length;
  const g = s.geometry;
  const invalid = (reason: string): never => {
    throw new SnapshotInvalidError(reason);
  };
  if (typeof s.modelFingerprint !== 'string' || s.modelFingerprint === '') invalid('no model fingerprint');
  if (!isPolicyName(s.policy.name)) invalid(`unknown policy ${String(s.policy.name)}`);
  for (const [k, v] of Object.entries(s.policy.params)) {
    if (typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v))) invalid(`policy parameter ${k} is ${v}`);
  }
  if (!KV_DTYPES.includes(s.dtype)) invalid(`unsupported dtype ${String(s.dtype)}`);
  if (!isCount(g.layers) || !isCount(g.kvHeads) || !isCount(g.headDim)) invalid('geometry must be whole numbers');
  if (s.originalPositions.length !== n || s.cachePositions.length !== n) {
    invalid('tokens and positions differ in length');
  }
  if (!isCount(s.totalTokensSeen)) invalid('total tokens seen must be a whole number');
  if (s.kv.length !== g.layers) invalid(`${s.kv.length} KV layers for a ${g.layers}-layer geometry`);
  const perToken = g.kvHeads * g.headDim;
  const kvTokens = s.kv.length > 0 && s.kv[0].key.length === 0 ? 0 : n;
  for (const [i, layer] of s.kv.entries()) {
    if (layer.key.length !== perToken * kvTokens || layer.value.length !== perToken * kvTokens) {
      invalid(`layer ${i} KV does not hold ${kvTokens} tokens`);
    }
    if (kvTokens > 0 && (elementDtype(layer.key) !== s.dtype || elementDtype(layer.value) !== s.dtype)) {
      invalid(`layer ${i} KV is not ${s.dtype}`);
    }
  }
  const history = s.history ?? [];

  const header: SnapshotHeader = {
    modelFingerprint: s.modelFingerprint,
    policy: { name: s.policy.name, params: { ...s.policy.params } },
    dtype: s.dtype,
    geometry: { layers: g.layers, kvHeads: g.kvHeads, headDim: g.headDim },
    totalTokensSeen: s.totalTokensSeen,
    tokenCount: n,
    historyCount: s.history ? history.length : null,
    kvTokens,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const intsAt = PREFIX + headerBytes.length;
  const kvAt = intsAt + 4 * (3 * n + history.length);
  const kvBytes = bytesPerElement(s.dtype) * 2 * g.layers * perToken * kvTokens;
  const total = kvAt + kvBytes + CHECKSUM_BYTES;

  // Unpooled: the result owns its ArrayBuffer (a pooled small Buffer would share one with others).
  const out = Buffer.allocUnsafeSlow(total);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(FORMAT_VERSION, MAGIC.length);
  out.writeUInt32LE(headerBytes.length, MAGIC.length + 2);
  headerBytes.copy(out, PREFIX);

  let at = intsAt;
  for (const [name, values] of [
    ['tokens', s.tokens],
    ['originalPositions', s.originalPositions],
    ['cachePositions', s.cachePositions],
    ['history', history],
  ] as const) {
    for (const v of values) {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) invalid(`${name} holds ${v}, not a 32-bit integer`);
      out.writeInt32LE(v, at);
      at += 4;
    }
  }
  for (const layer of s.kv) {
    at = writeFloats(out, at, layer.key);
    at = writeFloats(out, at, layer.value);
  }
  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return out;
}

/**
 * Parses and verifies a snapshot. Refuses, in this order: damaged bytes (SnapshotCorruptError),
 * another format version (SnapshotVersionError), another model (SnapshotMismatchError).
 * KV comes back in freshly allocated (hence aligned) arrays of the header's dtype that do not share `bytes`.
 */
export function decodeSnapshot(bytes: Uint8Array, expect: { modelFingerprint: string }): Snapshot {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
  if (buf.length < PREFIX + CHECKSUM_BYTES) corrupt('it is too short');
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) corrupt('it is not a Perpetua KV snapshot');
  const body = buf.subarray(0, buf.length - CHECKSUM_BYTES);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(buf.subarray(body.length))) corrupt('checksum mismatch');

  const version = buf.readUInt16LE(MAGIC.length);
  if (version !== FORMAT_VERSION) throw new SnapshotVersionError(version, FORMAT_VERSION);

  const headerLength = buf.readUInt32LE(MAGIC.length + 2);
  if (headerLength > body.length - PREFIX) corrupt('header longer than the file');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(buf.toString('utf8', PREFIX, PREFIX + headerLength)) as SnapshotHeader;
  } catch {
    return corrupt('unreadable header');
  }
  checkHeader(header, corrupt);

  if (header.modelFingerprint !== expect.modelFingerprint) {
    throw new SnapshotMismatchError(expect.modelFingerprint, header.modelFingerprint);
  }

  const { layers, kvHeads, headDim } = header.geometry;
  const n = header.tokenCount;
  const h = header.historyCount ?? 0;
  const floatsPerArray = kvHeads * header.kvTokens * headDim;
  const width = bytesPerElement(header.dtype);
  const expectedLength = PREFIX + headerLength + 4 * (3 * n + h) + width * 2 * layers * floatsPerArray + CHECKSUM_BYTES;
  if (!Number.isSafeInteger(expectedLength) || expectedLength !== buf.length) corrupt('inconsistent lengths');

  let at = PREFIX + headerLength;
  const readInts = (count: number): number[] => {
    const values = new Array<number>(count);
    for (let i = 0; i < count; i++, at += 4) values[i] = buf.readInt32LE(at);
    return values;
  };
  const tokens = readInts(n);
  const originalPositions = readInts(n);
  const cachePositions = readInts(n);
  const history = readInts(h);
  const kv: LayerKv[] = [];
  for (let l = 0; l < layers; l++) {
    const key = readFloats(buf, at, floatsPerArray, header.dtype);
    at += width * floatsPerArray;
    const value = readFloats(buf, at, floatsPerArray, header.dtype);
    at += width * floatsPerArray;
    kv.push({ key, value });
  }

  const snapshot: Snapshot = {
    modelFingerprint: header.modelFingerprint,
    policy: header.policy,
    dtype: header.dtype,
    geometry: { layers, kvHeads, headDim },
    tokens,
    originalPositions,
    cachePositions,
    totalTokensSeen: header.totalTokensSeen,
    kv,
  };
  if (header.historyCount !== null) snapshot.history = history;
  return snapshot;
}

export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks the parsed header's shape; a checksum-valid file can still come from a buggy writer. */
function checkHeader(h: SnapshotHeader, corrupt: (reason: string) => never): void {
  if (!isSnapshotHeader(h)) corrupt('malformed header');
}

/** The header fields the full format and the chunked manifest share, each of the type and range it must have. */
export function isSnapshotHeader(h: SnapshotHeader): boolean {
  return (
    typeof h === 'object' &&
    h !== null &&
    typeof h.modelFingerprint === 'string' &&
    typeof h.policy === 'object' &&
    h.policy !== null &&
    isPolicyName(h.policy.name) &&
    typeof h.policy.params === 'object' &&
    h.policy.params !== null &&
    Object.values(h.policy.params).every((v) => typeof v === 'number' || typeof v === 'boolean') &&
    KV_DTYPES.includes(h.dtype) &&
    typeof h.geometry === 'object' &&
    h.geometry !== null &&
    isCount(h.geometry.layers) &&
    isCount(h.geometry.kvHeads) &&
    isCount(h.geometry.headDim) &&
    isCount(h.totalTokensSeen) &&
    isCount(h.tokenCount) &&
    (h.historyCount === null || isCount(h.historyCount)) &&
    (h.kvTokens === 0 || h.kvTokens === h.tokenCount)
  );
}

export function elementDtype(a: HostKvArray): KvDtype | null {
  return a instanceof Float32Array ? 'float32' : a instanceof Uint16Array ? 'float16' : null;
}

/** One copy of the values into `out` at `at` (little-endian); returns the offset after them. */
export function writeFloats(out: Buffer, at: number, values: HostKvArray): number {
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    return at + values.byteLength;
  }
  if (values instanceof Uint16Array) for (const v of values) at = out.writeUInt16LE(v, at);
  else for (const v of values) at = out.writeFloatLE(v, at);
  return at;
}

/** One copy of `count` values at `at` into a new, aligned array of `dtype` (the source may be unaligned). */
export function readFloats(buf: Buffer, at: number, count: number, dtype: KvDtype): HostKvArray {
  const values = allocKv(dtype, count);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(values.buffer).set(buf.subarray(at, at + values.byteLength));
  } else if (values instanceof Uint16Array) {
    for (let i = 0; i < count; i++) values[i] = buf.readUInt16LE(at + 2 * i);
  } else {
    for (let i = 0; i < count; i++) values[i] = buf.readFloatLE(at + 4 * i);
  }
  return values;
}
