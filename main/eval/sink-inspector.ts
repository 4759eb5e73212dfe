/**
 * The sink inspector (StreamingLLM, Figure 2): for each layer and head, the share of attention that queries give
 * to the first tokens of a sequence. Runs the model's graph once more, derived so that its attention
 * probabilities are outputs (attention-graph.ts), over the given tokens with an empty cache.
 */
import { linkSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { PerpetuaError } from '../shared/errors.js';
import type { Model } from '../engine/model.js';
import { exposeAttentionProbs } from './attention-graph.js';

export interface SinkReport {
  layers: number;
  heads: number;
  /** the first tokens whose share is measured */
  firstTokens: number;
  /** tokens the model read */
  tokens: number;
  /** share[layer][head]: mean over queries after the first tokens of the attention they give to the first tokens */
  share: number[][];
}

export const DEFAULT_FIRST_TOKENS = 4;
export const DEFAULT_INSPECT_TOKENS = 256;

/** Tokens to inspect from a cache's contents: all when they fit, else the kept head and the newest ones. */
export function inspectTokens(held: number[], kept: number, max = DEFAULT_INSPECT_TOKENS): number[] {
  if (held.length <= max) return held;
  const head = held.slice(0, Math.min(kept, max / 2));
  return [...head, ...held.slice(held.length - (max - head.length))];
}

export async function inspectSinks(model: Model, tokens: number[], firstTokens = DEFAULT_FIRST_TOKENS): Promise<SinkReport> {
  if (tokens.length <= firstTokens) {
    throw new PerpetuaError(`The sink inspector needs more than ${firstTokens} tokens; this text has ${tokens.length}.`, { code: 'invalid_input' });
  }
  const derived = exposeAttentionProbs(readFileSync(model.onnxPath), model.config.layers);
  if (!derived.ok) throw new PerpetuaError(derived.reason, { code: 'attention_unavailable' });
  const { file, cleanup } = placeDerivedGraph(model.onnxPath, derived.bytes, derived.externalFiles);
  let session: ort.InferenceSession | null = null;
  try {
    session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], graphOptimizationLevel: 'basic' });
    const out = await session.run(emptyCacheFeeds(model, tokens), derived.outputs);
    const share = derived.outputs.map((name) => headShares(out[name], tokens.length, firstTokens));
    return { layers: share.length, heads: share[0]?.length ?? 0, firstTokens, tokens: tokens.length, share };
  } finally {
    await session?.release();
    cleanup();
  }
}

/**
 * onnxruntime reads external weights only from the graph's own folder (links that resolve elsewhere are refused):
 * the derived graph goes to a temporary folder with hard links to them, or, across file systems, beside the model.
 */
function placeDerivedGraph(onnxPath: string, bytes: Uint8Array, externalFiles: string[]): { file: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-sinks-'));
  try {
    for (const f of externalFiles) linkSync(join(dirname(onnxPath), f), join(dir, f));
    const file = join(dir, 'attention.onnx');
    writeFileSync(file, bytes);
    return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    const file = join(dirname(onnxPath), `.perpetua-attention-${process.pid}.onnx`);
    writeFileSync(file, bytes);
    return { file, cleanup: () => rmSync(file, { force: true }) };
  }
}

function emptyCacheFeeds(model: Model, tokens: number[]): Record<string, ort.Tensor> {
  const n = tokens.length;
  const ids = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, n]);
  const feeds: Record<string, ort.Tensor> = { input_ids: ids(tokens), attention_mask: ids(tokens.map(() => 1)) };
  if (model.takesPositions) feeds.position_ids = ids(tokens.map((_, i) => i));
  const { layers, kvHeads, headDim } = model.geometry;
  for (let l = 0; l < layers; l++) {
    for (const part of ['key', 'value']) feeds[`past_key_values.${l}.${part}`] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
  }
  return feeds;
}

/** Probabilities [.., heads, n, n] → per head, the mean over queries q ≥ first of Σ_{k < first} p[q, k]. */
function headShares(t: ort.Tensor, n: number, first: number): number[] {
  const p = t.data as Float32Array;
  const heads = p.length / (n * n);
  if (!Number.isInteger(heads)) {
    throw new PerpetuaError(`An attention output has shape [${t.dims.join(', ')}], not [heads, ${n}, ${n}].`, { code: 'attention_unavailable' });
  }
  const shares: number[] = [];
  for (let h = 0; h < heads; h++) {
    let sum = 0;
    for (let q = first; q < n; q++) {
      const row = (h * n + q) * n;
      for (let k = 0; k < first; k++) sum += p[row + k];
    }
    shares.push(sum / (n - first));
  }
  return shares;
}
