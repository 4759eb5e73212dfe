import { readFileSync } from 'node:fs';
import type { WeightTensor } from './llama-graph.js';
import { halfToFloat } from './graph/weight-codec.js';

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
      const half = new Uint16Array(copy.buffer);
      return Float32Array.from(half, halfToFloat);
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
