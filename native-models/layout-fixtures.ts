import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { buildDecoderOnnx, type GraphOptions } from './decoder-graph.js';
import { withExternalData } from '../main/engine/onnx-graph.js';
import {
  float16Io,
  logitsToKeep,
  mergedDecoder,
  positionsFromCacheLength,
  rewriteDecoder,
  ropeTablesAsInitializers,
  type DecoderRewrite,
} from './graph/decoder-layouts.js';
import { ropeTableRows } from './fused-llama-graph.js';
import { generateTinyModel, writeModelFolder, type GeneratedModel, type TinyModelOptions } from './tiny-model.js';
import { parseModelConfig } from '../main/engine/model-config.js';

/** One export of the same weights in one of the layouts exporters write. */
export interface LayoutVariant {
  /** path in the model folder, e.g. onnx/model_fp16.onnx or onnx/decoder_model_merged.onnx */
  file: string;
  /** the graph the rewrites start from (default: the reference layout in float32) */
  graph?: GraphOptions;
  float16?: boolean;
  /** no position_ids input: tokens go at the cache length (onnxruntime-genai GroupQueryAttention graphs) */
  positionsFromCacheLength?: boolean;
  logitsToKeep?: 'num_logits_to_keep' | 'logits_to_keep';
  /** optimum merged decoder with use_cache_branch */
  merged?: boolean;
  /** keep the weights in this external data file beside the graph (e.g. model.onnx_data, model.onnx.data) */
  externalData?: string;
}

/** The graph bytes of a variant, and its external data file if it has one. */
export function buildVariant(model: GeneratedModel, v: LayoutVariant): { graph: Uint8Array; data?: { name: string; bytes: Uint8Array } } {
  const rewrites: DecoderRewrite[] = [];
  if (v.positionsFromCacheLength) rewrites.push(positionsFromCacheLength);
  if (v.logitsToKeep) rewrites.push(logitsToKeep(v.logitsToKeep));
  if (v.float16) rewrites.push(float16Io);
  if (v.merged) rewrites.push(mergedDecoder);
  const graph: GraphOptions = { layout: 'reference', ...v.graph };
  const build = () => buildDecoderOnnx(parseModelConfig(model.config), (name) => model.weights.get(name), graph);
  if (!v.externalData) return { graph: rewriteDecoder(build(), rewrites) };
  const ext = withExternalData(v.externalData, build);
  return { graph: rewriteDecoder(ext.result, rewrites), data: { name: v.externalData, bytes: concat(ext.chunks, ext.size) } };
}

/**
 * A fresh model folder holding the standard fp32 export (onnx/model.onnx, the reference) and the given variants
 * of the same seeded weights.
 */
export function layoutModelDir(variants: LayoutVariant[], opts: TinyModelOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-layouts-'));
  const model = generateTinyModel(opts);
  writeModelFolder(dir, model);
  for (const v of variants) {
    const { graph, data } = buildVariant(model, v);
    mkdirSync(dirname(join(dir, v.file)), { recursive: true });
    writeFileSync(join(dir, v.file), graph);
    if (data) writeFileSync(join(dir, dirname(v.file), basename(data.name)), data.bytes);
  }
  return dir;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * An onnxruntime-genai folder as its builder writes one: genai_config.json (no config.json), the tokenizer files,
 * model.onnx with GroupQueryAttention and its RoPE tables as cos_cache/sin_cache initializers, and the weights in
 * model.onnx.data.
 */
export function genaiModelDir(opts: TinyModelOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'perpetua-genai-'));
  const model = generateTinyModel(opts);
  const shape = parseModelConfig(model.config);
  const ext = withExternalData('model.onnx.data', () =>
    buildDecoderOnnx(shape, (name) => model.weights.get(name), { layout: 'fused' }),
  );
  writeFileSync(join(dir, 'model.onnx'), rewriteDecoder(ext.result, [ropeTablesAsInitializers(shape.rope.invFreq, ropeTableRows(shape))]));
  writeFileSync(join(dir, 'model.onnx.data'), concat(ext.chunks, ext.size));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(model.tokenizerConfig));
  const c = model.config as Record<string, any>;
  const genai = {
    model: {
      bos_token_id: c.bos_token_id,
      context_length: c.max_position_embeddings,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
        filename: 'model.onnx',
        head_size: shape.headDim,
        hidden_size: c.hidden_size,
        inputs: { input_ids: 'input_ids', attention_mask: 'attention_mask', past_key_names: 'past_key_values.%d.key', past_value_names: 'past_key_values.%d.value' },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        num_attention_heads: c.num_attention_heads,
        num_hidden_layers: c.num_hidden_layers,
        num_key_value_heads: c.num_key_value_heads,
      },
      eos_token_id: c.eos_token_id,
      pad_token_id: c.eos_token_id,
      type: c.model_type,
      vocab_size: c.vocab_size,
    },
    search: { do_sample: false, max_length: c.max_position_embeddings, past_present_share_buffer: true, top_k: 50, top_p: 1.0 },
  };
  writeFileSync(join(dir, 'genai_config.json'), JSON.stringify(genai, null, 4));
  return dir;
}
