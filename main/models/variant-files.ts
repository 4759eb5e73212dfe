/**
 * Which files of a Hub repo make one variant of its model. The variants and their order are the engine's rule
 * (main/engine/variants.ts); this adds what a download also needs: the root's config, tokenizer and template files,
 * and where each file lands (a genai folder's files land at the top of the model folder).
 */
import { posix } from 'node:path';
import type { ExecutionProvider } from '../api/schemas.js';
import { listVariants as listGraphs, pickVariant, variantFiles } from '../engine/variants.js';
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

export function listVariants(repoFiles: readonly string[]): Variant[] {
  const files = [...repoFiles].sort();
  const meta = files.filter((f) => META_FILE.test(f) && f !== 'genai_config.json');
  return listGraphs(files).map((v) => ({
    name: v.name,
    graph: v.file,
    dtype: v.dtype,
    files:
      v.genaiDir === null
        ? [...meta, ...variantFiles(v)].map((f) => ({ remote: f, local: f }))
        : files.filter((f) => posix.dirname(f) === (v.genaiDir || '.')).map((f) => ({ remote: f, local: posix.basename(f) })),
  }));
}

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
  if (name !== undefined && !variants.some((v) => v.name === name)) {
    throw new DownloadError('variant_not_found', `${repo} has no variant "${name}"; it has ${variants.map((v) => v.name).join(', ')}.`);
  }
  const graphs = listGraphs(repoFiles);
  const chosen = pickVariant(graphs, provider, name)!;
  return variants.find((v) => v.graph === chosen.file)!;
}
