/**
 * A derived decoder graph whose attention probabilities are graph outputs: the Softmax of every attention block
 * (the project's own graphs and optimum/transformers exports compute attention from MatMul → Softmax → MatMul)
 * is declared an output, so one run shows how much each layer's heads attend to the first tokens. Fused attention
 * kernels (GroupQueryAttention, MultiHeadAttention, Attention) compute the probabilities inside one operator and
 * never hold them as a tensor: for those graphs the reason is returned instead.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;

const FUSED_ATTENTION = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention', 'PackedAttention', 'SparseAttention']);
const FLOAT = 1;

export type AttentionGraph =
  /** `externalFiles`: weight files beside the model file that the derived graph still reads */
  | { ok: true; bytes: Uint8Array; outputs: string[]; externalFiles: string[] }
  | { ok: false; reason: string };

/** Attention probabilities of `layers` layers as outputs of a copy of `modelBytes`. */
export function exposeAttentionProbs(modelBytes: Uint8Array, layers: number): AttentionGraph {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (!graph?.node) return { ok: false, reason: 'The ONNX file has no graph.' };
  const fused = graph.node.find((n) => FUSED_ATTENTION.has(n.opType ?? ''));
  if (fused) {
    return {
      ok: false,
      reason: `This graph computes attention in a fused ${fused.opType} operator, which never holds the attention probabilities as a tensor, so they cannot be read out; the reference (unfused) graph of the same model can show them.`,
    };
  }
  const probs = attentionSoftmaxes(graph.node);
  if (probs.length !== layers) {
    return {
      ok: false,
      reason: `Found ${probs.length} attention Softmax operators for ${layers} layers, so the attention probabilities cannot be matched to layers.`,
    };
  }
  const outputs = probs.map((n) => n.output![0]!);
  const known = new Set((graph.output ?? []).map((o) => o.name));
  const typeOf = new Map((graph.valueInfo ?? []).map((v) => [v.name, v.type]));
  for (const name of outputs) {
    if (known.has(name)) continue;
    graph.output!.push({ name, type: typeOf.get(name) ?? { tensorType: { elemType: FLOAT } } });
  }
  return { ok: true, bytes: onnx.ModelProto.encode(model).finish(), outputs, externalFiles: externalDataFiles(graph.initializer ?? []) };
}

/**
 * Softmax nodes whose result weights the values: consumed by a MatMul directly or through a Cast/Dropout (the
 * probabilities times V), in graph order, which is layer order.
 */
function attentionSoftmaxes(nodes: INodeProto[]): INodeProto[] {
  const consumers = new Map<string, INodeProto[]>();
  for (const n of nodes) for (const input of n.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), n]);
  const weightsValues = (name: string, depth: number): boolean =>
    (consumers.get(name) ?? []).some(
      (c) => c.opType === 'MatMul' || (depth > 0 && ['Cast', 'Dropout', 'Identity'].includes(c.opType ?? '') && weightsValues(c.output![0]!, depth - 1)),
    );
  return nodes.filter((n) => n.opType === 'Softmax' && n.output?.[0] && weightsValues(n.output[0], 2));
}

function externalDataFiles(initializers: onnxProto.onnx.ITensorProto[]): string[] {
  const files = new Set<string>();
  for (const t of initializers) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) files.add(location);
  }
  return [...files];
}
