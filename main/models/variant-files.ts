/**
 * Which files of a Hub repo make one variant of its model, the one rule the download follows.
 * - transformers.js / optimum layout (onnx-community): `onnx/model.onnx` is "fp32", `onnx/model_<name>.onnx` is
 *   "<name>" (fp16, q4, q4f16, int8, uint8, bnb4, quantized), older `onnx/decoder_model_merged[_<name>].onnx` is
 *   "merged[_<name>]"; each graph brings its external data (`<graph>_data*`, `<graph>.data*`) and the root's
 *   config, tokenizer and template files.
 * - onnxruntime-genai layout (microsoft/*-onnx): a folder with `genai_config.json` is one variant named by its path;
 *   its files are the whole model and land at the top of the model folder.
 */
import { dirname, posix } from 'node:path';
import type { ExecutionProvider } from '../api/schemas.js';
import { DownloadError } from './download-error.js';

export interface Variant {
  name: string;
  /** Repo path of the ONNX graph. */
  graph: string;
  /** Precision/quantization part of the name: fp32, fp16, q4, q4f16, int8, … (genai folders: their name). */
  dtype: string;
  /** repo path → path inside the model folder */
  files: { remote: string; local: string }[];
}

const META_FILE = /^[^/]+\.(json|txt|jinja|model|tiktoken)$/;
const GRAPH = /^(?:onnx\/)?(model|decoder_model_merged)(?:_(\w+))?\.onnx$/;

export function listVariants(repoFiles: readonly string[]): Variant[] {
  const files = [...repoFiles].sort();
  const meta = files.filter((f) => META_FILE.test(f) && f !== 'genai_config.json');
  const variants: Variant[] = [];
  for (const graph of files.filter((f) => f.endsWith('.onnx'))) {
    const dir = dirname(graph) === '.' ? '' : dirname(graph);
    if (files.includes(posix.join(dir, 'genai_config.json'))) {
      const inDir = files.filter((f) => dirname(f) === (dir || '.'));
      variants.push({ name: dir || 'genai', graph, dtype: dir || 'genai', files: inDir.map((f) => ({ remote: f, local: posix.basename(f) })) });
      continue;
    }
    const m = GRAPH.exec(graph);
    if (!m) continue; // encoders, embeddings, decoder_with_past…: not a whole decoder with a KV cache
    const dtype = m[2] ?? 'fp32';
    const name = m[1] === 'model' ? dtype : m[2] ? `merged_${m[2]}` : 'merged';
    const external = files.filter((f) => f.startsWith(`${graph}_data`) || f.startsWith(`${graph}.data`));
    variants.push({ name, graph, dtype, files: [...meta, graph, ...external].map((f) => ({ remote: f, local: f })) });
  }
  return variants;
}

const CPU_ORDER = ['q4', 'int8', 'uint8', 'quantized', 'fp32', 'bnb4', 'q4f16', 'fp16'];
const GPU_ORDER = ['q4f16', 'fp16', 'q4', 'fp32', 'int8', 'uint8', 'quantized', 'bnb4'];

/** The variant to fetch: the one named, else the best for the provider (CPU: q4 → int8 → fp32; GPUs: q4f16 → fp16 → q4). */
export function chooseVariant(repo: string, repoFiles: readonly string[], name: string | undefined, provider: ExecutionProvider = 'cpu'): Variant {
  const variants = listVariants(repoFiles);
  if (variants.length === 0) {
    const safetensors = repoFiles.some((f) => f.endsWith('.safetensors'));
    const gguf = repoFiles.some((f) => f.endsWith('.gguf'));
    throw new DownloadError(
      'variant_not_found',
      safetensors
        ? `${repo} has no ONNX export, only safetensors weights: download it with git or huggingface-cli and convert it in the model manager (or \`perpetua models convert\`), or pick its onnx-community export.`
        : gguf
          ? `${repo} holds GGUF files, which Perpetua cannot run; pick the model's ONNX export (onnx-community/…) instead.`
          : `${repo} has no ONNX decoder graph Perpetua can run.`,
    );
  }
  if (name !== undefined) {
    const found = variants.find((v) => v.name === name);
    if (!found) {
      throw new DownloadError('variant_not_found', `${repo} has no variant "${name}"; it has ${variants.map((v) => v.name).join(', ')}.`);
    }
    return found;
  }
  return [...variants].sort((a, b) => rank(a, provider) - rank(b, provider))[0];
}

function rank(v: Variant, provider: ExecutionProvider): number {
  const gpu = provider !== 'cpu';
  const merged = v.name.startsWith('merged') ? 0.5 : 0; // a plain model_*.onnx beats the older merged export
  const order = gpu ? GPU_ORDER : CPU_ORDER;
  const i = order.indexOf(v.dtype);
  if (i >= 0) return i + merged;
  // genai folders are named after where they run: cpu_and_mobile/cpu-int4-…, cuda/cuda-fp16, directml/…
  const wants = gpu ? (provider === 'dml' ? 'directml' : provider) : 'cpu';
  return v.dtype.toLowerCase().includes(wants) ? order.length : order.length + 1;
}
