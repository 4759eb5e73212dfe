import { posix } from 'node:path';
import type { ExecutionProvider } from './execution-provider.js';

/**
 * Export variants side by side, the one rule the engine loads by and the Hub download fetches by. Pure: works on a
 * model folder's listing and on a Hub repository's listing alike.
 * - transformers.js / optimum (onnx-community): `onnx/model.onnx` is "fp32", `onnx/model_<name>.onnx` is "<name>"
 *   (fp16, q4, q4f16, int8, uint8, quantized, bnb4); an older `onnx/decoder_model_merged[_<name>].onnx` is
 *   "merged[_<name>]". External weights sit beside a graph as `<graph>_data`, `<graph>_data_1`, … or `<graph>.data`.
 * - onnxruntime-genai (microsoft/*-onnx): a folder with genai_config.json is one variant named by its path
 *   ("genai" at the top), whatever its graph is called.
 */
export interface Variant {
  /** what `--variant` takes */
  name: string;
  /** precision / quantization: fp32, fp16, q4, q4f16, int8, … (genai folders: their name, which says where they run) */
  dtype: string;
  /** the graph, relative to the listing's root (e.g. onnx/model_q4.onnx) */
  file: string;
  /** its external data files, in chunk order */
  dataFiles: string[];
  /** the folder holding genai_config.json, for onnxruntime-genai variants ('' at the top) */
  genaiDir: string | null;
}

const GRAPH = /^(?:onnx\/)?(model|decoder_model_merged)(?:_(\w+))?\.onnx$/;

/** Best first. The CPU runs 4-bit MatMulNBits and 8-bit kernels fastest; GPUs want float16 activations and KV. */
const CPU_ORDER = ['q4', 'int8', 'uint8', 'quantized', 'fp32', 'bnb4', 'q4f16', 'fp16'];
const GPU_ORDER = ['q4f16', 'fp16', 'q4', 'fp32', 'int8', 'uint8', 'quantized', 'bnb4'];

/** Every decoder graph in a listing of relative paths, with its external data files. */
export function listVariants(paths: readonly string[]): Variant[] {
  const files = [...paths].sort();
  const variants: Variant[] = [];
  for (const file of files.filter((f) => f.endsWith('.onnx'))) {
    const dir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
    if (files.includes(posix.join(dir, 'genai_config.json'))) {
      const name = dir || 'genai';
      variants.push({ name, dtype: name, file, dataFiles: dataFilesOf(file, files), genaiDir: dir });
      continue;
    }
    const m = GRAPH.exec(file);
    if (!m) continue; // encoders, embeddings, decoder_with_past…: not a whole decoder with a KV cache
    const dtype = m[2] ?? 'fp32';
    const name = m[1] === 'model' ? dtype : m[2] ? `merged_${m[2]}` : 'merged';
    variants.push({ name, dtype, file, dataFiles: dataFilesOf(file, files), genaiDir: null });
  }
  return variants;
}

/** `<graph>_data`, `<graph>_data_N` and `<graph>.data` beside the graph, in chunk order. */
export function dataFilesOf(file: string, paths: readonly string[]): string[] {
  const chunk = (p: string): number => {
    if (p === `${file}_data` || p === `${file}.data`) return 0;
    const m = p.startsWith(`${file}_data_`) ? /^\d+$/.exec(p.slice(file.length + 6)) : null;
    return m ? Number(m[0]) : -1;
  };
  return paths.filter((p) => chunk(p) >= 0).sort((a, b) => chunk(a) - chunk(b));
}

/** The files a variant's graph needs: the graph and its external data. */
export function variantFiles(v: Variant): string[] {
  return [v.file, ...v.dataFiles];
}

/**
 * The variant to run on `provider`: the one named by `requested` (its name, or its graph's path or file name), else
 * the best for the provider (CPU: q4 → int8 → fp32; WebGPU, CUDA, DirectML, CoreML: q4f16 → fp16 → q4), a plain
 * model_*.onnx before an older merged decoder; genai folders named for the provider come next. Null when none fits.
 */
export function pickVariant(variants: readonly Variant[], provider: ExecutionProvider, requested?: string): Variant | null {
  if (requested !== undefined) {
    return variants.find((v) => v.name === requested || v.file === requested || posix.basename(v.file) === requested) ?? null;
  }
  return [...variants].sort((a, b) => rank(a, provider) - rank(b, provider))[0] ?? null;
}

function rank(v: Variant, provider: ExecutionProvider): number {
  const gpu = provider !== 'cpu';
  const order = gpu ? GPU_ORDER : CPU_ORDER;
  const i = order.indexOf(v.dtype);
  if (i >= 0) return i + (v.name.startsWith('merged') ? 0.5 : 0);
  // genai folders are named after where they run: cpu_and_mobile/cpu-int4-…, cuda/cuda-fp16, directml/…
  const wants = gpu ? (provider === 'dml' ? 'directml' : provider) : 'cpu';
  return v.dtype.toLowerCase().includes(wants) ? order.length : order.length + 1;
}
