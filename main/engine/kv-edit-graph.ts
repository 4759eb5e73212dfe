import type { KvGeometry } from './layer-kv.js';
import type { RopeStyle } from './model-config.js';
import type { KvDtype } from './kv-dtype.js';
import { DType, GraphBuilder } from './onnx-graph.js';

/**
 * The cache edit of the window and sink policies as a small ONNX graph, so it runs on the same execution provider
 * as the model and the KV never leaves the GPU: for every layer, keep the first `keep` tokens (sinks), drop the
 * next `drop`, and turn the keys of the rest back by `drop` positions (cos/sin of −drop × frequency come in as
 * inputs, computed once per eviction on the CPU).
 * Inputs: key.N, value.N [1, kvHeads, T, headDim] in the KV dtype; keep, drop int64 [1]; cos, sin float32
 * [rotaryDim / 2]. Outputs: key_out.N, value_out.N [1, kvHeads, T − drop, headDim] in the KV dtype.
 * float16 keys are turned in float32 and rounded back once, as the host editor does.
 */
export function buildEvictGraph(g: KvGeometry, rotaryDim: number, style: RopeStyle, dtype: KvDtype = 'float32'): Uint8Array {
  const b = new GraphBuilder('perpetua-kv-evict');
  const half = rotaryDim / 2;
  const D = g.headDim;
  const keep = b.input('keep', 'int64', [1]);
  const drop = b.input('drop', 'int64', [1]);
  const cos = b.input('cos', 'float32', [half]);
  const sin = b.input('sin', 'float32', [half]);
  const tailStart = b.op('Add', [keep, drop]);
  const zero = b.ints([0]);
  const end = b.ints([Number.MAX_SAFE_INTEGER]);
  const axis2 = b.ints([2]);
  const axisLast = b.ints([-1]);
  const shape = (t: string) => ['batch', g.kvHeads, t, D];

  const rotate = (narrow: string): string => {
    const x = dtype === 'float32' ? narrow : b.op('Cast', [narrow], { to: DType.float32 });
    const rot = rotaryDim === D ? x : b.op('Slice', [x, zero, b.ints([rotaryDim]), axisLast]);
    let turned: string;
    if (style === 'rotate_half') {
      const x1 = b.op('Slice', [rot, zero, b.ints([half]), axisLast]);
      const x2 = b.op('Slice', [rot, b.ints([half]), b.ints([rotaryDim]), axisLast]);
      const y1 = b.op('Sub', [b.op('Mul', [x1, cos]), b.op('Mul', [x2, sin])]);
      const y2 = b.op('Add', [b.op('Mul', [x2, cos]), b.op('Mul', [x1, sin])]);
      turned = b.op('Concat', [y1, y2], { axis: -1 });
    } else {
      // interleaved pairs (2i, 2i + 1): view the rotary dims as [half, 2]
      const pairs = b.op('Reshape', [rot, b.ints([0, 0, -1, half, 2])]);
      const x1 = b.op('Squeeze', [b.op('Slice', [pairs, zero, b.ints([1]), axisLast]), axisLast]);
      const x2 = b.op('Squeeze', [b.op('Slice', [pairs, b.ints([1]), b.ints([2]), axisLast]), axisLast]);
      const y1 = b.op('Sub', [b.op('Mul', [x1, cos]), b.op('Mul', [x2, sin])]);
      const y2 = b.op('Add', [b.op('Mul', [x2, cos]), b.op('Mul', [x1, sin])]);
      const stacked = b.op('Concat', [b.op('Unsqueeze', [y1, axisLast]), b.op('Unsqueeze', [y2, axisLast])], { axis: -1 });
      turned = b.op('Reshape', [stacked, b.ints([0, 0, -1, rotaryDim])]);
    }
    const whole = rotaryDim === D ? turned : b.op('Concat', [turned, b.op('Slice', [x, b.ints([rotaryDim]), b.ints([D]), axisLast])], { axis: -1 });
    return dtype === 'float32' ? whole : b.op('Cast', [whole], { to: DType.float16 });
  };

  for (let l = 0; l < g.layers; l++) {
    const key = b.input(`key.${l}`, dtype, shape('total'));
    const value = b.input(`value.${l}`, dtype, shape('total'));
    const headK = b.op('Slice', [key, zero, keep, axis2]);
    const tailK = b.op('Slice', [key, tailStart, end, axis2]);
    b.output(`key_out.${l}`, dtype, shape('kept'), b.op('Concat', [headK, rotate(tailK)], { axis: 2 }));
    const headV = b.op('Slice', [value, zero, keep, axis2]);
    const tailV = b.op('Slice', [value, tailStart, end, axis2]);
    b.output(`value_out.${l}`, dtype, shape('kept'), b.op('Concat', [headV, tailV], { axis: 2 }));
  }
  return b.toBytes();
}

/**
 * Every layer's KV through Identity, for a session on the model's provider whose outputs live in host memory: the
 * one way to read a GPU tensor that cannot abort the process (onnxruntime-node 1.30's `getData()` on a
 * 'gpu-buffer' tensor throws a C++ exception JavaScript cannot catch). onnxruntime copies each output down once.
 * Inputs key.N, value.N [1, kvHeads, T, headDim] in the KV dtype; outputs key_host.N, value_host.N, the same.
 */
export function buildDownloadGraph(g: KvGeometry, dtype: KvDtype = 'float32'): Uint8Array {
  const b = new GraphBuilder('perpetua-kv-download');
  const shape = ['batch', g.kvHeads, 'total', g.headDim];
  for (let l = 0; l < g.layers; l++) {
    for (const part of ['key', 'value']) {
      b.output(`${part}_host.${l}`, dtype, shape, b.op('Identity', [b.input(`${part}.${l}`, dtype, shape)]));
    }
  }
  return b.toBytes();
}
