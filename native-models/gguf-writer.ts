import { closeSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../main/engine/model-config.js';
import type { WeightTensor } from './graph/linear-layers.js';
import { Q4_BLOCK, quantizeQ4, toHalf } from './graph/weight-codec.js';
import { readSafetensors } from './safetensors.js';

/** Tensor types of llama.cpp's GGUF files that this writer emits. */
export const GGUF_TYPES = { F32: 0, F16: 1, Q4_0: 2 } as const;
export type GgufType = keyof typeof GGUF_TYPES;

const ALIGNMENT = 32;
/** general.file_type: LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q4_0 */
const FILE_TYPE: Record<GgufType, number> = { F32: 0, F16: 1, Q4_0: 2 };
const enum Kv {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

type Value = { type: Kv.U32 | Kv.I32 | Kv.F32 | Kv.BOOL; value: number } | { type: Kv.STRING; value: string } | { type: Kv.ARRAY; of: Kv; values: (string | number)[] };

/**
 * Writes a llama.cpp GGUF (version 3) from a Hugging Face Llama checkpoint, the way llama.cpp's
 * convert_hf_to_gguf.py does for the llama architecture: matrices in F16, F32 or Q4_0 (blocks of 32, the same
 * numbers as Perpetua's q4_0 ONNX), norms in F32, q/k rows permuted from rotate_half to llama.cpp's interleaved
 * RoPE, and the tokenizer as a SentencePiece-style vocabulary. Benchmarks use it to run llama.cpp on exactly
 * the weights Perpetua runs.
 */
export function writeGguf(hfDir: string, outFile: string, type: GgufType): void {
  const raw = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8'));
  if (raw.model_type !== 'llama') throw new Error(`The GGUF writer handles Llama checkpoints, not "${raw.model_type}".`);
  const c = parseModelConfig(raw);
  const weights = new Map(readdirSync(hfDir).filter((f) => f.endsWith('.safetensors')).flatMap((f) => [...readSafetensors(join(hfDir, f))]));
  const need = (name: string): WeightTensor => {
    const w = weights.get(name) ?? (name === 'model.embed_tokens.weight' ? weights.get('lm_head.weight') : undefined);
    if (!w) throw new Error(`Missing weight ${name}.`);
    return w;
  };
  const tensors: [string, WeightTensor, boolean][] = [['token_embd.weight', need('model.embed_tokens.weight'), true]];
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      [`blk.${l}.attn_norm.weight`, need(`${p}.input_layernorm.weight`), false],
      [`blk.${l}.attn_q.weight`, permuteRope(need(`${p}.self_attn.q_proj.weight`), c.heads), true],
      [`blk.${l}.attn_k.weight`, permuteRope(need(`${p}.self_attn.k_proj.weight`), c.kvHeads), true],
      [`blk.${l}.attn_v.weight`, need(`${p}.self_attn.v_proj.weight`), true],
      [`blk.${l}.attn_output.weight`, need(`${p}.self_attn.o_proj.weight`), true],
      [`blk.${l}.ffn_norm.weight`, need(`${p}.post_attention_layernorm.weight`), false],
      [`blk.${l}.ffn_gate.weight`, need(`${p}.mlp.gate_proj.weight`), true],
      [`blk.${l}.ffn_up.weight`, need(`${p}.mlp.up_proj.weight`), true],
      [`blk.${l}.ffn_down.weight`, need(`${p}.mlp.down_proj.weight`), true],
    );
  }
  tensors.push(['output_norm.weight', need('model.norm.weight'), false]);
  if (weights.has('lm_head.weight') && weights.has('model.embed_tokens.weight') && raw.tie_word_embeddings === false) {
    tensors.push(['output.weight', need('lm_head.weight'), true]);
  }

  const tokenizer = JSON.parse(readFileSync(join(hfDir, 'tokenizer.json'), 'utf8'));
  const vocab = vocabulary(tokenizer, c.vocabSize);
  const u32 = (value: number): Value => ({ type: Kv.U32, value });
  const f32 = (value: number): Value => ({ type: Kv.F32, value });
  const meta: [string, Value][] = [
    ['general.architecture', { type: Kv.STRING, value: 'llama' }],
    ['general.name', { type: Kv.STRING, value: String(raw._name_or_path ?? 'perpetua') }],
    ['general.file_type', u32(FILE_TYPE[type])],
    ['general.alignment', u32(ALIGNMENT)],
    ['llama.context_length', u32(c.maxPositions)],
    ['llama.embedding_length', u32(c.hiddenSize)],
    ['llama.block_count', u32(c.layers)],
    ['llama.feed_forward_length', u32(c.intermediateSize)],
    ['llama.attention.head_count', u32(c.heads)],
    ['llama.attention.head_count_kv', u32(c.kvHeads)],
    ['llama.rope.freq_base', f32(c.rope.theta)],
    ['llama.rope.dimension_count', u32(c.rope.rotaryDim)],
    ['llama.attention.layer_norm_rms_epsilon', f32(c.rmsNormEps)],
    ['llama.vocab_size', u32(c.vocabSize)],
    ['tokenizer.ggml.model', { type: Kv.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: Kv.ARRAY, of: Kv.STRING, values: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: Kv.ARRAY, of: Kv.F32, values: vocab.tokens.map((_, i) => -i) }],
    ['tokenizer.ggml.token_type', { type: Kv.ARRAY, of: Kv.I32, values: vocab.types }],
    ['tokenizer.ggml.bos_token_id', u32(c.bosTokenId ?? 1)],
    ['tokenizer.ggml.eos_token_id', u32(c.eosTokenIds[0] ?? 2)],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.add_bos_token', { type: Kv.BOOL, value: 0 }],
  ];

  const encoded = tensors.map(([name, t, matrix]) => ({ name, shape: t.shape, ...encode(t, matrix ? type : 'F32') }));
  const out = new ByteWriter();
  out.u32(0x46554747); // "GGUF"
  out.u32(3);
  out.u64(encoded.length);
  out.u64(meta.length);
  for (const [key, v] of meta) {
    out.str(key);
    out.value(v);
  }
  let offset = 0;
  for (const t of encoded) {
    out.str(t.name);
    out.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) out.u64(d); // GGUF lists dims innermost first
    out.u32(GGUF_TYPES[t.type]);
    out.u64(offset);
    offset += align(t.bytes.byteLength);
  }
  out.pad(ALIGNMENT);
  const fd = openSync(outFile, 'w');
  try {
    writeAll(fd, out.bytes());
    for (const t of encoded) {
      writeAll(fd, t.bytes);
      writeAll(fd, new Uint8Array(align(t.bytes.byteLength) - t.bytes.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}

/** HF rotate_half rows → llama.cpp's interleaved pairs, per head (convert_hf_to_gguf.py's permute). */
function permuteRope(w: WeightTensor, heads: number): WeightTensor {
  const [rows, cols] = w.shape;
  const dim = rows / heads;
  const half = dim / 2;
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [src, dst] of [[i, 2 * i], [half + i, 2 * i + 1]]) {
        out.set(w.data.subarray((h * dim + src) * cols, (h * dim + src + 1) * cols), (h * dim + dst) * cols);
      }
    }
  }
  return { shape: w.shape, data: out };
}

function encode(t: WeightTensor, type: GgufType): { type: GgufType; bytes: Uint8Array } {
  if (type === 'F32') return { type, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  if (type === 'F16') return { type, bytes: new Uint8Array(toHalf(t.data).buffer) };
  const [rows, cols] = t.shape;
  const q = quantizeQ4(t.data, rows, cols);
  const blocks = q.scales.length;
  const bytes = new Uint8Array(blocks * 18);
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < blocks; b++) {
    view.setUint16(b * 18, q.scales[b], true);
    // block_q4_0: qs[j] holds value j in its low nibble and value j + 16 in its high nibble
    for (let j = 0; j < Q4_BLOCK / 2; j++) bytes[b * 18 + 2 + j] = q.q[b * Q4_BLOCK + j] | (q.q[b * Q4_BLOCK + j + 16] << 4);
  }
  return { type, bytes };
}

/** Token strings by id and their llama.cpp types (1 normal, 2 unknown, 3 control, 6 byte). */
function vocabulary(tokenizer: any, size: number): { tokens: string[]; types: number[] } {
  const tokens: string[] = Array.from({ length: size }, (_, i) => `<unused_${i}>`);
  const types: number[] = Array(size).fill(1);
  for (const [tok, id] of Object.entries(tokenizer.model?.vocab ?? {}) as [string, number][]) {
    if (id < size) {
      tokens[id] = tok;
      if (/^<0x[0-9A-F]{2}>$/.test(tok)) types[id] = 6;
    }
  }
  for (const added of tokenizer.added_tokens ?? []) {
    if (added.id >= size) continue;
    tokens[added.id] = added.content;
    types[added.id] = added.id === 0 ? 2 : added.special ? 3 : 1;
  }
  return { tokens, types };
}

function align(n: number): number {
  return Math.ceil(n / ALIGNMENT) * ALIGNMENT;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** Little-endian GGUF header encoder. */
class ByteWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.byteLength;
  }

  private num(bytes: number, write: (v: DataView) => void): void {
    const b = new Uint8Array(bytes);
    write(new DataView(b.buffer));
    this.push(b);
  }

  u32(v: number): void {
    this.num(4, (d) => d.setUint32(0, v, true));
  }

  u64(v: number): void {
    this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }

  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.push(b);
  }

  scalar(type: Kv, v: string | number): void {
    if (type === Kv.STRING) this.str(String(v));
    else if (type === Kv.U32) this.u32(Number(v));
    else if (type === Kv.I32) this.num(4, (d) => d.setInt32(0, Number(v), true));
    else if (type === Kv.BOOL) this.num(1, (d) => d.setUint8(0, v ? 1 : 0));
    else this.num(4, (d) => d.setFloat32(0, Number(v), true));
  }

  value(v: Value): void {
    this.u32(v.type);
    if (v.type !== Kv.ARRAY) return this.scalar(v.type, v.value);
    this.u32(v.of);
    this.u64(v.values.length);
    for (const x of v.values) this.scalar(v.of, x);
  }

  pad(to: number): void {
    const rest = (to - (this.size % to)) % to;
    if (rest) this.push(new Uint8Array(rest));
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}
