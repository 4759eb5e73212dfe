import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { llamaCppRunner, perpetuaRunner } from '../main/eval/peer-runners.js';
import { writeGguf } from './gguf-writer.js';
import { FIXTURES, fixtureAvailable } from './test-models.js';

/** Reads a GGUF header back: version, tensor names/types/dims and the scalar metadata. */
function readHeader(file: string) {
  const b = readFileSync(file);
  let at = 0;
  const u32 = () => ((at += 4), b.readUInt32LE(at - 4));
  const u64 = () => ((at += 8), Number(b.readBigUInt64LE(at - 8)));
  const str = () => {
    const n = u64();
    at += n;
    return b.toString('utf8', at - n, at);
  };
  const scalar = (t: number): unknown => {
    if (t === 8) return str();
    if (t === 7) return b[at++] === 1;
    if (t === 6) return (at += 4), b.readFloatLE(at - 4);
    return u32();
  };
  expect(b.toString('ascii', 0, 4)).toBe('GGUF');
  at = 4;
  const version = u32();
  const tensors = u64();
  const kvs = u64();
  const meta: Record<string, unknown> = {};
  for (let i = 0; i < kvs; i++) {
    const key = str();
    const t = u32();
    if (t === 9) {
      const of = u32();
      const n = u64();
      const values = Array.from({ length: n }, () => scalar(of));
      meta[key] = values.length;
    } else meta[key] = scalar(t);
  }
  const infos = Array.from({ length: tensors }, () => {
    const name = str();
    const dims = Array.from({ length: u32() }, u64);
    return { name, dims, type: u32(), offset: u64() };
  });
  return { version, meta, infos, size: b.length };
}

const hasLlama = await import('node-llama-cpp' as string).then(
  () => true,
  () => false,
);

describe.runIf(fixtureAvailable(FIXTURES.tinystories))('GGUF writer (tinystories-656k)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-gguf-'));
  const hf = join(FIXTURES.tinystories, 'hf');

  it('writes llama.cpp\'s llama layout: metadata, 20 tensors with dims innermost first, F16 and Q4_0 sizes', () => {
    writeGguf(hf, join(dir, 'f16.gguf'), 'F16');
    writeGguf(hf, join(dir, 'q4.gguf'), 'Q4_0');
    const f16 = readHeader(join(dir, 'f16.gguf'));
    const q4 = readHeader(join(dir, 'q4.gguf'));
    expect(f16.version).toBe(3);
    expect(f16.meta).toMatchObject({
      'general.architecture': 'llama',
      'general.file_type': 1,
      'llama.block_count': 2,
      'llama.embedding_length': 128,
      'llama.attention.head_count': 8,
      'llama.attention.head_count_kv': 4,
      'llama.rope.dimension_count': 16,
      'tokenizer.ggml.tokens': 2048,
    });
    expect(q4.meta['general.file_type']).toBe(2);
    expect(f16.infos).toHaveLength(1 + 2 * 9 + 1); // tied: no output.weight
    const embd = f16.infos.find((t) => t.name === 'token_embd.weight')!;
    expect(embd.dims).toEqual([128, 2048]);
    expect(embd.type).toBe(1);
    expect(f16.infos.find((t) => t.name === 'blk.0.attn_norm.weight')!.type).toBe(0); // norms stay F32
    expect(q4.infos.find((t) => t.name === 'blk.1.ffn_down.weight')!.type).toBe(2);
    // 656K parameters: F16 about 2 bytes each, Q4_0 18 bytes per 32 (norms in F32)
    expect(f16.size).toBeGreaterThan(1.25e6);
    expect(q4.size / f16.size).toBeLessThan(0.35);
  });

  it.runIf(hasLlama)('gives llama.cpp the same greedy tokens as Perpetua on the same weights', async () => {
    const gguf = join(dir, 'f16-run.gguf');
    writeGguf(hf, gguf, 'F16');
    const ours = await perpetuaRunner(FIXTURES.tinystories, 'fp32', '1');
    const theirs = await llamaCppRunner(gguf, 'F16', 1, 128);
    if ('reason' in theirs) throw new Error(theirs.reason);
    const prompt = [1, 80, 147, 201, 282, 215, 286, 598, 629, 10]; // "Once upon a time, there was a little girl named Lily."
    const run = async (r: typeof ours) => {
      const out = [await r.prefill(prompt)];
      while (out.length < 12 && out[out.length - 1] !== 2) out.push(await r.step());
      return out;
    };
    const [a, b] = [await run(ours), await run(theirs)];
    expect(a.length).toBeGreaterThan(3);
    expect(b).toEqual(a);
    await Promise.all([ours.dispose(), theirs.dispose()]);
  });
});
