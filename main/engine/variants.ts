import type { ExecutionProvider } from './execution-provider.js';

/**
 * Export variants side by side, as onnx-community / transformers.js repositories keep them: `onnx/model.onnx`
 * (fp32), `onnx/model_fp16.onnx`, `model_q4.onnx`, `model_q4f16.onnx`, `model_int8.onnx`, `model_uint8.onnx`,
 * `model_quantized.onnx` (q8), `model_bnb4.onnx`; older optimum exports name the graph `decoder_model_merged*.onnx`.
 * External weights sit beside a graph as `<graph>_data`, `<graph>_data_1`, … (transformers.js, optimum) or
 * `<graph>.data` (onnxruntime-genai). Pure: works on a folder listing or a Hub repository listing alike.
 */
export interface Variant {
  /** what `--variant` takes: the dtype its file name says (fp32, q4, q4f16, …), or the file's own suffix */
  name: string;
  /** the graph, relative to the folder (e.g. onnx/model_q4.onnx) */
  file: string;
  /** its external data files, relative to the folder */
  dataFiles: string[];
}

/** transformers.js's dtype → file-name suffix table, read the other way. */
const SUFFIX_DTYPES: Record<string, string> = {
  '': 'fp32',
  _fp16: 'fp16',
  _int8: 'int8',
  _uint8: 'uint8',
  _quantized: 'q8',
  _q4: 'q4',
  _q4f16: 'q4f16',
  _bnb4: 'bnb4',
};

/** Best first. The CPU runs 4-bit MatMulNBits and int8 fastest; GPUs want float16 activations and KV. */
const CPU_ORDER = ['q4', 'int8', 'fp32', 'q8', 'uint8', 'bnb4', 'fp16', 'q4f16'];
const GPU_ORDER = ['q4f16', 'fp16', 'q4', 'fp32', 'int8', 'q8', 'uint8', 'bnb4'];

const GRAPH = /^(?:(.*)\/)?(model|decoder_model_merged)((?:_[A-Za-z0-9]+)*)\.onnx$/;

/** Every decoder graph in a listing of relative paths (root and onnx/), with its external data files. */
export function listVariants(paths: string[]): Variant[] {
  const graphs = paths
    .map((file) => ({ file, m: GRAPH.exec(file) }))
    .filter(({ m }) => m !== null && (m[1] === undefined || m[1] === 'onnx'))
    .sort((a, b) => rank(a.file) - rank(b.file) || a.m![3].localeCompare(b.m![3]));
  const named = new Set<string>();
  return graphs.map(({ file, m }) => {
    const suffix = m![3];
    const dtype = SUFFIX_DTYPES[suffix] ?? suffix.slice(1);
    // onnx/model*.onnx wins a dtype over an older merged decoder or a copy at the root, which keep their file name
    const name = named.has(dtype) ? file.replace(/^onnx\//, '').replace(/\.onnx$/, '') : dtype;
    named.add(name);
    return { name, file, dataFiles: dataFilesOf(file, paths) };
  });
}

function rank(file: string): number {
  return (file.startsWith('onnx/') ? 0 : 2) + (file.includes('decoder_model_merged') ? 1 : 0);
}

/** `<graph>_data`, `<graph>_data_N` and `<graph>.data` beside the graph, in chunk order. */
export function dataFilesOf(file: string, paths: string[]): string[] {
  const chunk = (p: string): number => {
    if (p === `${file}_data` || p === `${file}.data`) return 0;
    const m = p.startsWith(`${file}_data_`) ? /^\d+$/.exec(p.slice(file.length + 6)) : null;
    return m ? Number(m[0]) : -1;
  };
  return paths.filter((p) => chunk(p) >= 0).sort((a, b) => chunk(a) - chunk(b));
}

/** The files a variant needs: its graph and its external data. */
export function variantFiles(v: Variant): string[] {
  return [v.file, ...v.dataFiles];
}

/**
 * The variant to run on `provider`: the one named by `requested` (a variant name such as q4, or its file name),
 * else the best for the provider (CPU: q4 → int8 → fp32; WebGPU, CUDA, DirectML, CoreML: q4f16 → fp16 → q4), else
 * the first one listed. Null when nothing matches.
 */
export function pickVariant(variants: Variant[], provider: ExecutionProvider, requested?: string): Variant | null {
  if (requested !== undefined) {
    const file = requested.replace(/^onnx\//, '');
    return variants.find((v) => v.name === requested || v.file === requested || v.file === `onnx/${file}`) ?? null;
  }
  const order = provider === 'cpu' ? CPU_ORDER : GPU_ORDER;
  for (const dtype of order) {
    const hit = variants.find((v) => v.name === dtype);
    if (hit) return hit;
  }
  return variants[0] ?? null;
}
