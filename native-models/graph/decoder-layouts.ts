import onnxProto from 'onnx-proto';
import { DType } from '../../main/engine/onnx-graph.js';

const { onnx } = onnxProto;
type IModelProto = onnxProto.onnx.IModelProto;
type IGraphProto = onnxProto.onnx.IGraphProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/**
 * Rewrites a standard decoder graph (buildLlamaOnnx) into the other layouts exporters write, so the engine is
 * tested on each without their toolchains. Each works on the decoded ModelProto and keeps the weights as they
 * are (inline or external data).
 */
export type DecoderRewrite = (m: IModelProto) => void;

export function decodeModel(bytes: Uint8Array): IModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(m: IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}

/** KV inputs/outputs and logits in float16 (fp16 exports); the layers still compute in float32 in between. */
export const float16Io: DecoderRewrite = (m) => {
  const g = m.graph!;
  for (const input of g.input!) {
    if (!input.name!.startsWith('past_key_values.')) continue;
    const wide = `${input.name}/float32`;
    renameUses(g, input.name!, wide);
    g.node!.unshift(node('Cast', [input.name!], [wide], { to: DType.float32 }));
    input.type!.tensorType!.elemType = DType.float16;
  }
  for (const output of g.output!) {
    const wide = `${output.name}/float32`;
    renameProducer(g, output.name!, wide);
    g.node!.push(node('Cast', [wide], [output.name!], { to: DType.float16 }));
    output.type!.tensorType!.elemType = DType.float16;
  }
};

/**
 * No position_ids input: new tokens go at the cache length (attention_mask length − input length), as the
 * onnxruntime-genai builder's GroupQueryAttention graphs place them.
 */
export const positionsFromCacheLength: DecoderRewrite = (m) => {
  const g = m.graph!;
  g.input = g.input!.filter((i) => i.name !== 'position_ids');
  const c = constants(g, 'positions');
  const total = `positions/total`;
  const past = `positions/past`;
  g.node!.unshift(
    node('Gather', [`positions/mask_shape`, c.one], [total], { axis: 0 }),
    node('Gather', [`positions/ids_shape`, c.one], [`positions/new`], { axis: 0 }),
    node('Sub', [total, `positions/new`], [past]),
    node('Range', [past, total, c.one], [`positions/range`]),
    node('Unsqueeze', [`positions/range`, c.axis0], ['position_ids']),
  );
  g.node!.unshift(node('Shape', ['attention_mask'], ['positions/mask_shape']), node('Shape', ['input_ids'], ['positions/ids_shape']));
};

/** A `num_logits_to_keep` (or `logits_to_keep`) int64 scalar: 0 keeps every row, k the last k rows. */
export function logitsToKeep(name: 'num_logits_to_keep' | 'logits_to_keep'): DecoderRewrite {
  return (m) => {
    const g = m.graph!;
    g.input!.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DType.int64, shape: { dim: [] } } } }));
    const all = 'logits/all_rows';
    renameProducer(g, 'logits', all);
    const c = constants(g, 'keep');
    g.node!.push(
      node('Shape', [all], ['keep/shape']),
      node('Gather', ['keep/shape', c.one], ['keep/rows'], { axis: 0 }),
      node('Equal', [name, c.zero], ['keep/all']),
      node('Where', ['keep/all', 'keep/rows', name], ['keep/count']),
      node('Sub', ['keep/rows', 'keep/count'], ['keep/start']),
      node('Unsqueeze', ['keep/start', c.axis0], ['keep/starts']),
      node('Slice', [all, 'keep/starts', c.end, c.axis1], ['logits']),
    );
    const logits = g.output!.find((o) => o.name === 'logits')!;
    logits.type!.tensorType!.shape!.dim![1] = { dimParam: 'logits_rows' };
  };
}

/**
 * An optimum merged decoder: a bool `use_cache_branch` [1] chooses between the graph with past (true) and the
 * same graph with the past ignored (false, for the first run), as `decoder_model_merged.onnx` files do.
 */
export const mergedDecoder: DecoderRewrite = (m) => {
  const g = m.graph!;
  const outer = new Set([...g.input!.map((i) => i.name!), ...g.initializer!.map((t) => t.name!)]);
  const pastInputs = g.input!.filter((i) => i.name!.startsWith('past_key_values.')).map((i) => i.name!);
  const branch = (prefix: string, ignorePast: boolean): IGraphProto => {
    const rename = (name: string): string => {
      if (name === '') return name;
      if (ignorePast && pastInputs.includes(name)) return `${prefix}${name}/none`;
      return outer.has(name) ? name : `${prefix}${name}`;
    };
    const none = ignorePast
      ? pastInputs.map((p) => node('Slice', [p, `${prefix}zero`, `${prefix}zero`, `${prefix}axis2`], [`${prefix}${p}/none`]))
      : [];
    const nodes = g.node!.map((n) => ({ ...n, name: `${prefix}${n.name}`, input: n.input!.map(rename), output: n.output!.map(rename) }));
    const ints = (name: string, v: number): ITensorProto => ({ name: `${prefix}${name}`, dims: [1], dataType: DType.int64, int64Data: [v] });
    return {
      name: `${prefix}branch`,
      node: [...none, ...nodes],
      initializer: ignorePast ? [ints('zero', 0), ints('axis2', 2)] : [],
      output: g.output!.map((o) => ({ ...o, name: rename(o.name!) })),
    };
  };
  const attr = (name: string, graph: IGraphProto) => ({ name, type: onnx.AttributeProto.AttributeType.GRAPH, g: graph });
  g.input!.push(onnx.ValueInfoProto.create({ name: 'use_cache_branch', type: { tensorType: { elemType: DType.bool, shape: { dim: [{ dimValue: 1 }] } } } }));
  g.node = [
    {
      opType: 'If',
      name: 'optimum::if',
      input: ['use_cache_branch'],
      output: g.output!.map((o) => o.name!),
      attribute: [attr('then_branch', branch('with_past/', false)), attr('else_branch', branch('no_past/', true))],
    },
  ];
};

/**
 * The RoPE tables as initializers `cos_cache` / `sin_cache` [rows, rotaryDim / 2], as the onnxruntime-genai builder
 * stores them, in place of the fused graph's Cos/Sin of position × frequency.
 */
export function ropeTablesAsInitializers(invFreq: Float32Array, rows: number): DecoderRewrite {
  return (m) => {
    const g = m.graph!;
    const half = invFreq.length;
    const table = (f: (x: number) => number): ITensorProto => {
      const values = new Float32Array(rows * half);
      for (let r = 0; r < rows; r++) for (let i = 0; i < half; i++) values[r * half + i] = f(r * invFreq[i]);
      return { dims: [rows, half], dataType: DType.float32, rawData: new Uint8Array(values.buffer) };
    };
    for (const [op, name, f] of [['Cos', 'cos_cache', Math.cos], ['Sin', 'sin_cache', Math.sin]] as const) {
      const computed = g.node!.find((n) => n.opType === op)!;
      g.node = g.node!.filter((n) => n !== computed);
      renameUses(g, computed.output![0], name);
      g.initializer!.push({ ...table(f), name });
    }
  };
}

/** Applies rewrites to a model's bytes. */
export function rewriteDecoder(bytes: Uint8Array, rewrites: DecoderRewrite[]): Uint8Array {
  const m = decodeModel(bytes);
  for (const r of rewrites) r(m);
  return encodeModel(m);
}

function node(opType: string, input: string[], output: string[], attrs: Record<string, number> = {}): INodeProto {
  const T = onnx.AttributeProto.AttributeType;
  return {
    opType,
    name: `${opType}:${output[0]}`,
    input,
    output,
    attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: T.INT, i })),
  };
}

/** Small int64 constants, added once per prefix. */
function constants(g: IGraphProto, prefix: string): Record<'zero' | 'one' | 'axis0' | 'axis1' | 'end', string> {
  const names = { zero: `${prefix}/zero`, one: `${prefix}/one`, axis0: `${prefix}/axis0`, axis1: `${prefix}/axis1`, end: `${prefix}/end` };
  const scalar = (name: string, v: number): ITensorProto => ({ name, dims: [], dataType: DType.int64, int64Data: [v] });
  const vector = (name: string, v: number): ITensorProto => ({ name, dims: [1], dataType: DType.int64, int64Data: [v] });
  g.initializer!.push(
    scalar(names.zero, 0),
    scalar(names.one, 1),
    vector(names.axis0, 0),
    vector(names.axis1, 1),
    vector(names.end, Number.MAX_SAFE_INTEGER),
  );
  return names;
}

function renameUses(g: IGraphProto, from: string, to: string): void {
  for (const n of g.node!) n.input = n.input!.map((i) => (i === from ? to : i));
}

function renameProducer(g: IGraphProto, from: string, to: string): void {
  for (const n of g.node!) {
    n.output = n.output!.map((o) => (o === from ? to : o));
    n.input = n.input!.map((i) => (i === from ? to : i));
  }
}
