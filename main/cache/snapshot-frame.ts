import { createHash } from 'node:crypto';
import type { HostKvArray, KvDtype } from '../engine/kv-dtype.js';
import { CHECKSUM_BYTES, readFloats, SnapshotCorruptError, SnapshotInvalidError, writeFloats } from './snapshot-codec.js';

/**
 * The frame the chunked format's pieces share with the full format (snapshot-codec.ts): 6 bytes magic, u16 format
 * version, u32 JSON header length, the header, 32-bit integer arrays, float arrays, and a trailing SHA-256 of all
 * before it — checked before the version or the header is read, so damage is told apart from a newer format.
 */
export interface FramePayload {
  header: object;
  ints: readonly (readonly number[])[];
  floats: readonly HostKvArray[];
}

const PREFIX = 12;

export function encodeFrame(magic: Buffer, version: number, p: FramePayload): Uint8Array {
  const headerBytes = Buffer.from(JSON.stringify(p.header), 'utf8');
  const intCount = p.ints.reduce((n, a) => n + a.length, 0);
  const floatBytes = p.floats.reduce((n, a) => n + a.byteLength, 0);
  const total = PREFIX + headerBytes.length + 4 * intCount + floatBytes + CHECKSUM_BYTES;
  // unpooled: the result owns its ArrayBuffer (a pooled Buffer would share one with others)
  const out = Buffer.allocUnsafeSlow(total);
  magic.copy(out, 0);
  out.writeUInt16LE(version, 6);
  out.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(out, PREFIX);
  let at = PREFIX + headerBytes.length;
  for (const values of p.ints) {
    for (const v of values) {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new SnapshotInvalidError(`${v} is not a 32-bit integer`);
      out.writeInt32LE(v, at);
      at += 4;
    }
  }
  for (const values of p.floats) at = writeFloats(out, at, values);
  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return out;
}

/** A verified frame: its version, parsed header and a reader over what follows the header. */
export interface OpenFrame {
  version: number;
  header: unknown;
  ints(count: number): number[];
  floats(count: number, dtype: KvDtype): HostKvArray;
  /** bytes between the read position and the checksum */
  left(): number;
}

/** Checks magic and checksum (SnapshotCorruptError), then parses the header; the caller judges the version. */
export function openFrame(bytes: Uint8Array, magic: Buffer, what: string): OpenFrame {
  const corrupt = (reason: string): never => {
    throw new SnapshotCorruptError(reason);
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < PREFIX + CHECKSUM_BYTES) corrupt(`its ${what} is too short`);
  if (!buf.subarray(0, 6).equals(magic)) corrupt(`its ${what} is not one of Perpetua's`);
  const end = buf.length - CHECKSUM_BYTES;
  if (!createHash('sha256').update(buf.subarray(0, end)).digest().equals(buf.subarray(end))) corrupt(`its ${what} fails its checksum`);
  const headerLength = buf.readUInt32LE(8);
  if (headerLength > end - PREFIX) corrupt(`its ${what} header is longer than the ${what}`);
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', PREFIX, PREFIX + headerLength));
  } catch {
    corrupt(`its ${what} header is unreadable`);
  }
  let at = PREFIX + headerLength;
  const need = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0 || at + n > end) corrupt(`its ${what} is shorter than its header says`);
  };
  return {
    version: buf.readUInt16LE(6),
    header,
    ints(count) {
      need(4 * count);
      const values = new Array<number>(count);
      for (let i = 0; i < count; i++, at += 4) values[i] = buf.readInt32LE(at);
      return values;
    },
    floats(count, dtype) {
      const width = dtype === 'float16' ? 2 : 4;
      need(width * count);
      const values = readFloats(buf, at, count, dtype);
      at += width * count;
      return values;
    },
    left: () => end - at,
  };
}

/** SHA-256 of the whole bytes, hex: how a manifest names the chunks it uses. */
export function chunkHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
