/**
 * Which files of a Hub repo make one variant of its model. The variants themselves (names, external data, the pick
 * by provider) follow the engine's rule (engine/variants.ts), so what is downloaded is what loads; this adds what a
 * download needs besides the graph:
 * - transformers.js / optimum layout: the root's config, tokenizer and template files, paths kept as they are;
 * - onnxruntime-genai layout: the variant's whole folder, landing at the top of the model folder.
 */
import { posix } from 'node:path';
import type { ExecutionProvider } from '../api/schemas.js';
import { listVariants as engineVariants, pickVariant, variantFiles } from '../engine/variants.js';
import { DownloadError } from './download-error.js';

export interface VariantDownload {
  name: string;
  /** repo path → path inside the model folder */
  files: { remote: string; local: string }[];
}

const META_FILE = /^[^/]+\.(json|txt|jinja|model|tiktoken)$/;
/** What an onnxruntime-genai folder holds that a model needs; anything else there (scripts, binaries) is not fetched. */
const GENAI_FILE = /\.(json|txt|jinja|model|tiktoken|onnx|onnx\.data|onnx_data(_\d+)?|data)$/;

/** Every variant of a repo listing with the files its download fetches. */
export function listVariants(repoFiles: readonly string[]): VariantDownload[] {
  const files = [...repoFiles].sort();
  const meta = files.filter((f) => META_FILE.test(f) && f !== 'genai_config.json');
  return engineVariants(files).map((v) => {
    if (v.genaiDir !== null) {
      const inDir = files.filter((f) => posix.dirname(f) === (v.genaiDir || '.') && GENAI_FILE.test(f));
      return { name: v.name, files: inDir.map((f) => ({ remote: f, local: posix.basename(f) })) };
    }
    return { name: v.name, files: [...meta, ...variantFiles(v)].map((f) => ({ remote: f, local: f })) };
  });
}

/** The variant to fetch: the one named, else the best for the provider (CPU: q4 → int8 → fp32; GPUs: q4f16 → fp16 → q4). */
export function chooseVariant(repo: string, repoFiles: readonly string[], name: string | undefined, provider: ExecutionProvider = 'cpu'): VariantDownload {
  const variants = engineVariants(repoFiles);
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
  const picked = pickVariant(variants, provider, name);
  if (!picked) {
    throw new DownloadError('variant_not_found', `${repo} has no variant "${name}"; it has ${variants.map((v) => v.name).join(', ')}.`);
  }
  return listVariants(repoFiles).find((v) => v.name === picked.name)!;
}
