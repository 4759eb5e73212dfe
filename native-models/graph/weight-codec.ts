/**
 * Number formats of stored weights: IEEE float16 and 4-bit blocks of 32 along the input dimension with one
 * float16 scale per block: symmetric (llama.cpp's Q4_0, w = (q − 8) × scale, which onnxruntime's MatMulNBits
 * reads without zero points, so the ONNX and the GGUF files hold the same numbers) or with a zero point per block.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bit pattern nearest to `value` (round to nearest even; overflow to ±inf). */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export function toHalf(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = halfBits(data[i]);
  return out;
}

/** The values float16 storage keeps (what a float16 weight file holds, widened again). */
export function roundToHalf(data: Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = halfToFloat(halfBits(data[i]));
  return out;
}

let halfTable: Float32Array | null = null;

/** Widens float16 bit patterns to float32 through a 64 K-entry table (checkpoints hold hundreds of millions). */
export function widenHalf(half: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = halfTable[half[i]];
  return out;
}

export const Q4_BLOCK = 32;
/** Block lengths MatMulNBits takes that the converter writes: 32 (llama.cpp's Q4_0), 64, 128 (fewer scales to read). */
export const Q4_BLOCK_SIZES = [32, 64, 128] as const;
export type Q4BlockSize = (typeof Q4_BLOCK_SIZES)[number];

/**
 * A [rows, cols] matrix quantized in blocks of `block` along each row. A row whose length is not a multiple of the
 * block ends in a partial block, padded with zeros (MatMulNBits pads K the same way).
 */
export interface Q4Matrix {
  rows: number;
  cols: number;
  /** weights per block */
  block: number;
  /** one float16 scale per block, row-major [rows, ceil(cols / block)] */
  scales: Uint16Array;
  /** the stored level (0…15) of every weight, row-major [rows, blocks · block] (padding included) */
  q: Uint8Array;
  /** per block zero point (asymmetric blocks: w = (q − zero) × scale); absent: 8 for every block (Q4_0) */
  zeros?: Uint8Array;
}

/** Calls `each(blk, row, first, count)` for every block: its row, its first column and how many columns it holds. */
function forBlocks(rows: number, cols: number, block: number, each: (blk: number, row: number, first: number, count: number) => void): void {
  const blocks = Math.ceil(cols / block);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) each(r * blocks + b, r, b * block, Math.min(block, cols - b * block));
  }
}

function checkBlock(cols: number, block: number): void {
  if (!(Q4_BLOCK_SIZES as readonly number[]).includes(block)) throw new RangeError(`4-bit blocks hold 32, 64 or 128 weights, not ${block}.`);
  if (cols % Q4_BLOCK !== 0) throw new RangeError(`4-bit blocks need an input size that is a multiple of ${Q4_BLOCK}, not ${cols}.`);
}

/**
 * llama.cpp's Q4_0 quantization of each row of a PyTorch Linear weight [out, in]: the scale is the block's value of
 * largest magnitude divided by −8 (so that value maps exactly to −8), rounded to float16 before the values are
 * rounded to the nearest level. With 32-weight blocks these are exactly Q4_0's numbers.
 */
export function quantizeQ4(data: Float32Array, rows: number, cols: number, block: number = Q4_BLOCK): Q4Matrix {
  checkBlock(cols, block);
  const blocks = Math.ceil(cols / block);
  const scales = new Uint16Array(rows * blocks);
  const q = new Uint8Array(rows * blocks * block).fill(8);
  forBlocks(rows, cols, block, (blk, r, first, count) => {
    const src = r * cols + first;
    let max = 0;
    for (let i = 0; i < count; i++) if (Math.abs(data[src + i]) > Math.abs(max)) max = data[src + i];
    scales[blk] = halfBits(max / -8);
    const d = halfToFloat(scales[blk]);
    const inv = d ? 1 / d : 0;
    for (let i = 0; i < count; i++) q[blk * block + i] = Math.min(15, Math.max(0, Math.round(data[src + i] * inv + 8)));
  });
  return { rows, cols, block, scales, q };
}

/**
 * Asymmetric 4-bit blocks (onnxruntime's default MatMulNBits quantization): each block spans its own [min, max]
 * with a zero point, so all 16 levels cover the values; w = (q − zero) × scale.
 */
export function quantizeQ4Asymmetric(data: Float32Array, rows: number, cols: number, block: number = Q4_BLOCK): Q4Matrix {
  checkBlock(cols, block);
  const blocks = Math.ceil(cols / block);
  const scales = new Uint16Array(rows * blocks);
  const zeros = new Uint8Array(rows * blocks);
  const q = new Uint8Array(rows * blocks * block);
  forBlocks(rows, cols, block, (blk, r, first, count) => {
    const src = r * cols + first;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < count; i++) {
      lo = Math.min(lo, data[src + i]);
      hi = Math.max(hi, data[src + i]);
    }
    const bits = halfBits((hi - lo) / 15);
    const d = halfToFloat(bits);
    const inv = d ? 1 / d : 0;
    const zero = Math.min(15, Math.max(0, Math.round(-lo * inv)));
    scales[blk] = bits;
    zeros[blk] = zero;
    q.fill(zero, blk * block, (blk + 1) * block); // padding stands for 0
    for (let i = 0; i < count; i++) q[blk * block + i] = Math.min(15, Math.max(0, Math.round(data[src + i] * inv + zero)));
  });
  return { rows, cols, block, scales, q, zeros };
}

/** MatMulNBits' zero_points input: two 4-bit zero points per byte (low nibble first), rows padded to whole bytes. */
export function packZeroPoints(m: Q4Matrix): Uint8Array {
  const blocks = Math.ceil(m.cols / m.block);
  const perRow = Math.ceil(blocks / 2);
  const out = new Uint8Array(m.rows * perRow);
  for (let r = 0; r < m.rows; r++) {
    for (let b = 0; b < blocks; b++) out[r * perRow + (b >> 1)] |= m.zeros![r * blocks + b] << ((b & 1) * 4);
  }
  return out;
}

/** The float weights [rows, cols] a Q4 matrix stands for (for references and perplexity checks). */
export function dequantizeQ4(m: Q4Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  forBlocks(m.rows, m.cols, m.block, (blk, r, first, count) => {
    const scale = halfToFloat(m.scales[blk]);
    const zero = m.zeros ? m.zeros[blk] : 8;
    for (let i = 0; i < count; i++) out[r * m.cols + first + i] = (m.q[blk * m.block + i] - zero) * scale;
  });
  return out;
}

/** MatMulNBits' B input [rows, blocks, 16]: byte j of a block holds value 2j (low nibble) and 2j + 1 (high). */
export function packMatMulNBits(m: Q4Matrix): Uint8Array {
  const out = new Uint8Array(m.q.length / 2);
  for (let j = 0; j < out.length; j++) out[j] = m.q[2 * j] | (m.q[2 * j + 1] << 4);
  return out;
}
