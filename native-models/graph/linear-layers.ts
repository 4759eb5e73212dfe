import type { GraphBuilder } from '../../main/engine/onnx-graph.js';
import { halfToFloat, packMatMulNBits, packZeroPoints, Q4_BLOCK, quantizeQ4, quantizeQ4Asymmetric, toHalf, type Q4BlockSize } from './weight-codec.js';

/** A weight tensor as stored by HF (row-major, PyTorch Linear layout [out, in]). */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

export type WeightSource = (name: string) => WeightTensor | undefined;

export const WEIGHT_DTYPES = ['fp32', 'fp16', 'q4', 'q4_0'] as const;
/**
 * How the matrices of a graph are stored: float32, float16, or 4-bit blocks of 32 (MatMulNBits): q4 with a zero
 * point per block (onnxruntime's default, the better perplexity), q4_0 symmetric with the numbers of llama.cpp's
 * Q4_0 (so a GGUF written from the same checkpoint holds exactly the same weights).
 */
export type WeightDType = (typeof WEIGHT_DTYPES)[number];

/**
 * The block length `perpetua models convert` writes 4-bit weights in unless told otherwise (graphs built without a
 * block size, tests and benches, keep 32: llama.cpp's Q4_0 numbers). Chosen from speed and perplexity: docs/results.md.
 */
export const CONVERT_BLOCK_SIZE: Q4BlockSize = 32;

export interface WeightFormat {
  dtype: WeightDType;
  /** q4 and q4_0: the per-block scales in float16 (as llama.cpp keeps them) or float32 */
  scales?: 'fp16' | 'fp32';
  /**
   * q4 and q4_0: MatMulNBits accuracy_level. 4 (the default) multiplies with int8 activations (VNNI/AMX on x86);
   * 0 computes in float32 from the dequantized weights, which is what tests compare against exactly.
   */
  accuracyLevel?: 0 | 4;
  /**
   * q4 and q4_0: weights per block (default 32, llama.cpp's Q4_0). Longer blocks read fewer scales per weight
   * (20 bytes per 32 weights at 64, 18 at 128, against 24 at 32 with MatMulNBits' float32 scale and block sum), at
   * some cost in quality.
   */
  blockSize?: Q4BlockSize;
}

/**
 * Emits the linear layers of a decoder in one storage format. Activations stay float32 everywhere: float16
 * matrices multiply float16 casts of the activations (the weights are read at half the bytes), 4-bit matrices go
 * through onnxruntime's MatMulNBits. Norm weights and biases are small and stay float32.
 */
export class LinearLayers {
  private readonly halves = new Map<string, string>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly weights: WeightSource,
    readonly format: WeightFormat = { dtype: 'fp32' },
  ) {}

  need(name: string): WeightTensor {
    const w = this.weights(name);
    if (!w) throw new Error(`Missing weight ${name}.`);
    return w;
  }

  has(name: string): boolean {
    return this.weights(name) !== undefined;
  }

  /** A float32 vector (norm weight, bias); several are concatenated. */
  vector(...names: string[]): string {
    const parts = names.map((n) => this.need(n).data);
    return this.g.weight(names.join('+'), [parts.reduce((s, p) => s + p.length, 0)], concat(parts));
  }

  /** The embedding table [vocab, hidden] gathered by token id, as float32 rows. */
  embedding(name: string, ids: string): string {
    const w = this.need(name);
    if (this.format.dtype === 'fp32') return this.g.op('Gather', [this.g.weight(name, w.shape, w.data), ids], { axis: 0 });
    const table = this.g.tensor(name, w.shape, 'float16', bytes(toHalf(w.data)));
    return this.g.op('Cast', [this.g.op('Gather', [table, ids], { axis: 0 })], { to: 1 });
  }

  /**
   * x · Wᵀ for PyTorch Linear weights [out, in]; several weights sharing an input are stacked along `out` into one
   * multiplication (packed QKV), named `label`.
   */
  matmul(x: string, names: string[], label = names.join('+')): string {
    const ws = names.map((n) => this.need(n));
    const inn = ws[0].shape[1];
    const out = ws.reduce((s, w) => s + w.shape[0], 0);
    if (ws.some((w) => w.shape[1] !== inn)) throw new Error(`Weights ${names.join(', ')} differ in input size.`);
    const data = concat(ws.map((w) => w.data)); // [out, in], row blocks stacked
    const { dtype } = this.format;
    if (dtype === 'q4' || dtype === 'q4_0') return this.q4(x, data, out, inn, label);
    const t = transpose(data, out, inn);
    if (dtype === 'fp32') return this.g.op('MatMul', [x, this.g.weight(label, [inn, out], t)]);
    const w16 = this.g.tensor(label, [inn, out], 'float16', bytes(toHalf(t)));
    return this.g.op('Cast', [this.g.op('MatMul', [this.half(x), w16])], { to: 1 });
  }

  private q4(x: string, data: Float32Array, rows: number, cols: number, label: string): string {
    const block = this.format.blockSize ?? Q4_BLOCK;
    const q = this.format.dtype === 'q4' ? quantizeQ4Asymmetric(data, rows, cols, block) : quantizeQ4(data, rows, cols, block);
    const blocks = Math.ceil(cols / block);
    const packed = this.g.tensor(label, [rows, blocks, block / 2], 'uint8', packMatMulNBits(q));
    // float16 scales are widened once when the session loads (constant folding), so MatMulNBits sees float32
    const scales =
      this.format.scales === 'fp16'
        ? this.g.op('Cast', [this.g.tensor(`${label}.scales`, [rows * blocks], 'float16', bytes(q.scales))], { to: 1 })
        : this.g.weight(`${label}.scales`, [rows * blocks], Float32Array.from(q.scales, (h) => halfToFloat(h)));
    const attrs = { K: cols, N: rows, bits: 4, block_size: block, accuracy_level: this.format.accuracyLevel ?? 4 };
    const zeros = q.zeros ? [this.g.tensor(`${label}.zeros`, [rows * Math.ceil(blocks / 2)], 'uint8', packZeroPoints(q))] : [];
    return this.g.contrib('MatMulNBits', [x, packed, scales, ...zeros], 1, attrs)[0];
  }

  /** One float16 cast per activation, shared by every matrix that reads it. */
  private half(x: string): string {
    let h = this.halves.get(x);
    if (!h) this.halves.set(x, (h = this.g.op('Cast', [x], { to: 10 })));
    return h;
  }
}

function bytes(a: Uint16Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}
