import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DType } from '../main/engine/onnx-graph.js';
import { decodeModel, encodeModel } from './graph/decoder-layouts.js';

/**
 * Spoils a model folder's decoder so it loads but fails inside onnxruntime at run time: the logits pass through an
 * Add with a [1, 5, 1] constant, which broadcasts for a run of 5 tokens and is a shape error for 2–4 or 6 and more.
 */
export function failAtRunOf3Tokens(modelDir: string): void {
  const graph = join(modelDir, 'onnx', 'model.onnx');
  const m = decodeModel(readFileSync(graph));
  const g = m.graph!;
  const producer = g.node!.find((node) => node.output!.includes('logits'))!;
  producer.output = producer.output!.map((o) => (o === 'logits' ? 'logits/raw' : o));
  g.initializer!.push({ name: 'hostile/rows', dims: [1, 5, 1], dataType: DType.float32, rawData: new Uint8Array(5 * 4) });
  g.node!.push({ opType: 'Add', name: 'hostile/add', input: ['logits/raw', 'hostile/rows'], output: ['logits'] });
  writeFileSync(graph, encodeModel(m));
}
