import ort from 'onnxruntime-node';
import { TokenizerMismatchError, UnsupportedModelError } from './errors.js';
import type { ModelConfig } from './model-config.js';
import type { TextTokenizer } from './text-tokenizer.js';
import { fromFloat32, toFloat32, type HostKvArray, type KvDtype } from './kv-dtype.js';
import { isHost, type CacheKv, type KvGeometry, type PastKv } from './layer-kv.js';
import { KvBuffer } from './kv-buffer.js';

/**
 * The decoder interface of a graph, as the common exporters write it:
 * - optimum / transformers.js: input_ids, attention_mask, position_ids, past_key_values.N.key|value → logits,
 *   present.N.key|value; merged decoders add a bool `use_cache_branch`; newer ones `num_logits_to_keep` or
 *   `logits_to_keep` (0 = every row, k = the last k rows);
 * - onnxruntime-genai builder graphs with GroupQueryAttention + rotary inside: no position_ids at all, new tokens
 *   go at the cache length (seqlens_k from the attention mask).
 * KV and logits are float32 or float16.
 */
export interface DecoderLayout {
  /** false: the graph places new tokens at the cache length itself (GQA with rotary inside) */
  positionIds: boolean;
  /** merged decoder: tell it whether the past is used */
  cacheBranch: boolean;
  /** the input that limits how many logits rows come back, if the graph has one */
  logitsToKeep: 'num_logits_to_keep' | 'logits_to_keep' | null;
  kvDtype: KvDtype;
  logitsDtype: KvDtype;
  /**
   * The graph reads the past from the caller's fixed-capacity buffer and returns only the new tokens' KV
   * (new_key_values.N.key|value), for the caller to append: Perpetua's appending layout.
   */
  appendsKv: boolean;
}

const KV_TYPES: Record<string, KvDtype> = { float32: 'float32', float16: 'float16' };

/** The output of an appending graph that carries layer `l`'s new keys or values. */
export const newKvName = (l: number, which: 'key' | 'value'): string => `new_key_values.${l}.${which}`;

/** Reads the layout from the session's inputs and outputs, refusing graphs whose KV Perpetua cannot manage. */
export function readLayout(session: ort.InferenceSession, c: ModelConfig, tok: TextTokenizer, dirArg: string): DecoderLayout {
  const inputs = new Set(session.inputNames);
  for (const name of ['input_ids', 'attention_mask', 'past_key_values.0.key']) {
    if (!inputs.has(name)) {
      throw new UnsupportedModelError(
        `The ONNX model in ${dirArg} lacks the standard decoder input "${name}", so Perpetua cannot manage its KV cache.`,
      );
    }
  }
  if (!inputs.has(`past_key_values.${c.layers - 1}.key`) || inputs.has(`past_key_values.${c.layers}.key`)) {
    throw new UnsupportedModelError(`The ONNX model in ${dirArg} does not have the ${c.layers} layers its config describes.`);
  }
  const kvMeta = session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
  let kvDtype: KvDtype = 'float32';
  if (kvMeta?.isTensor) {
    const type = KV_TYPES[kvMeta.type];
    if (!type) {
      throw new UnsupportedModelError(`The model keeps its KV cache in ${kvMeta.type}; Perpetua manages float32 and float16 KV caches.`);
    }
    kvDtype = type;
    const [, heads, , dim] = kvMeta.shape;
    if ((typeof heads === 'number' && heads !== c.kvHeads) || (typeof dim === 'number' && dim !== c.headDim)) {
      throw new UnsupportedModelError(`The ONNX KV cache shape does not match the model's config (${c.kvHeads} KV heads of ${c.headDim}).`);
    }
  }
  const logits = session.outputMetadata.find((m) => m.name === 'logits');
  const logitsVocab = logits?.isTensor ? logits.shape[2] : undefined;
  if (typeof logitsVocab === 'number' && (logitsVocab !== c.vocabSize || tok.vocabSize > logitsVocab)) {
    throw new TokenizerMismatchError(
      `The model outputs ${logitsVocab} token scores but its tokenizer has ${tok.vocabSize} tokens, so they do not belong together.`,
    );
  }
  return {
    positionIds: inputs.has('position_ids'),
    cacheBranch: inputs.has('use_cache_branch'),
    logitsToKeep: inputs.has('num_logits_to_keep') ? 'num_logits_to_keep' : inputs.has('logits_to_keep') ? 'logits_to_keep' : null,
    kvDtype,
    logitsDtype: logits?.isTensor && logits.type === 'float16' ? 'float16' : 'float32',
    appendsKv: session.outputNames.includes(newKvName(0, 'key')),
  };
}

export interface DecoderStep {
  ids: number[];
  positions: number[];
  past: PastKv;
  pastLength: number;
  /** every row's logits (evaluation), or only the last one (decoding) */
  allLogits: boolean;
}

/** The feeds of one run in the graph's own layout. */
export function decoderFeeds(layout: DecoderLayout, g: KvGeometry, step: DecoderStep): Record<string, ort.Tensor> {
  const { ids, positions, past, pastLength } = step;
  const n = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(pastLength + n).fill(1n), [1, pastLength + n]),
  };
  if (layout.positionIds) {
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(positions, BigInt), [1, n]);
  } else if (positions.some((p, i) => p !== pastLength + i)) {
    // Such graphs put token i at pastLength + i. Every policy keeps cache index = position id (window and sink
    // re-rotate kept keys on eviction, recompute re-prefills from 0, dense is absolute), so this never fires.
    throw new RangeError(`This graph has no position_ids input, so tokens can only go at the cache length ${pastLength}.`);
  }
  if (layout.cacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(pastLength > 0 ? 1 : 0), [1]);
  if (layout.logitsToKeep) {
    feeds[layout.logitsToKeep] = new ort.Tensor('int64', BigInt64Array.of(step.allLogits ? 0n : 1n), []);
  }
  const dims = [1, g.kvHeads, pastLength, g.headDim];
  const tensor = (d: CacheKv['key'] | undefined): ort.Tensor => {
    if (d !== undefined && !isHost(d)) return d;
    return new ort.Tensor(layout.kvDtype, asDtype(d, layout.kvDtype), dims);
  };
  for (let l = 0; l < g.layers; l++) {
    feeds[`past_key_values.${l}.key`] = past instanceof KvBuffer ? past.tensor(l, 'key') : tensor(past[l]?.key);
    feeds[`past_key_values.${l}.value`] = past instanceof KvBuffer ? past.tensor(l, 'value') : tensor(past[l]?.value);
  }
  return feeds;
}

/**
 * What a run fetches: every output, and with an in-place buffer its tensors as the preallocated present outputs,
 * so the graph appends into the buffer (the binding still hands back a copy, which is dropped).
 */
export function decoderFetches(outputNames: readonly string[], past: PastKv): Record<string, ort.Tensor | null> {
  const fetches: Record<string, ort.Tensor | null> = {};
  for (const name of outputNames) {
    const present = past instanceof KvBuffer ? /^present\.(\d+)\.(key|value)$/.exec(name) : null;
    fetches[name] = present ? (past as KvBuffer).tensor(Number(present[1]), present[2] as 'key' | 'value') : null;
  }
  return fetches;
}

/** A host array in the graph's KV dtype (an empty past comes as float32 from a fresh cache). */
function asDtype(d: HostKvArray | undefined, dtype: KvDtype): HostKvArray {
  if (d === undefined || d.length === 0) return dtype === 'float16' ? new Uint16Array(0) : new Float32Array(0);
  if ((d instanceof Uint16Array) === (dtype === 'float16')) return d;
  return fromFloat32(toFloat32(d), dtype);
}

/** The logits rows as float32 [rows, vocab]. */
export function logitsOf(out: ort.Tensor): Float32Array {
  return toFloat32(out.data as HostKvArray);
}
