import type { OnnxContents } from './onnx-contents.js';

/**
 * The weight format a graph holds, read from its nodes and initializers: "q4" for 4-bit MatMulNBits, "fp16" where
 * most weight bytes are float16, else "fp32". A folder's plain onnx/model.onnx is named fp32 by the exporters'
 * convention, but `models convert --dtype fp16|q4` writes that file too.
 */
export function weightDtype(contents: OnnxContents): string {
  if (contents.ops.includes('com.microsoft:MatMulNBits')) return 'q4';
  let half = 0;
  let wide = 0;
  for (const t of contents.initializers) {
    const bytes = t.inline?.length ?? t.external?.length ?? 0;
    if (t.dataType === 10) half += bytes;
    if (t.dataType === 1) wide += bytes;
  }
  return half > wide ? 'fp16' : 'fp32';
}
