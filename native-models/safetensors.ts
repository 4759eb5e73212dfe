import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { WeightTensor } from './llama-graph.js';
import { toHalf, widenHalf } from './graph/weight-codec.js';

/**
 * Reads a .safetensors file (8-byte header length, JSON header, raw little-endian data) into float32 tensors.
 * F32, F16 and BF16 are widened to float32 because the exported graphs compute in float32.
 */
export function readSafetensors(file: string): Map<string, WeightTensor> {
  const buf = readFileSync(file);
  if (buf.length < 8) throw new Error(`${file} is too short to be a safetensors file.`);
  const headerLength = Number(buf.readBigUInt64LE(0));
  if (headerLength <= 0 || 8 + headerLength > buf.length) throw new Error(`${file} has a broken safetensors header.`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8'));
  } catch {
    throw new Error(`${file} has a safetensors header that is not JSON.`);
  }
  const base = 8 + headerLength;
  const out = new Map<string, WeightTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = t.data_offsets;
    const bytes = buf.subarray(base + start, base + end);
    out.set(name, { shape: t.shape, data: toFloat32(bytes, t.dtype, name) });
  }
  return out;
}

function toFloat32(bytes: Buffer, dtype: string, name: string): Float32Array {
  const copy = new Uint8Array(bytes); // aligned copy
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy.buffer);
    case 'F16': {
      return widenHalf(new Uint16Array(copy.buffer));
    }
    case 'BF16': {
      const half = new Uint16Array(copy.buffer);
      const bits = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new Error(`Tensor ${name} has dtype ${dtype}; the converter reads F32, F16 and BF16.`);
  }
}

/**
 * Writes tensors as a .safetensors file in F16 or F32 (names sorted, data 8-byte aligned), the layout Hugging Face
 * checkpoints use; readSafetensors reads it back.
 */
export function writeSafetensors(file: string, tensors: Map<string, WeightTensor>, dtype: 'F16' | 'F32'): void {
  const names = [...tensors.keys()].sort();
  const width = dtype === 'F16' ? 2 : 4;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * width] };
    offset += t.data.length * width;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const fd = openSync(file, 'w');
  try {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, head);
    writeSync(fd, json);
    for (const name of names) {
      const data = tensors.get(name)!.data;
      const raw = dtype === 'F16' ? toHalf(data) : data;
      writeSync(fd, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}
