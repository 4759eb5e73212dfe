import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readOnnxContents } from './onnx-contents.js';
import { configFromGenai } from './genai-config.js';
import { ModelLoadError } from './errors.js';
import { listVariants, type Variant } from './variants.js';

/** Where a model folder keeps what the engine needs. */
export interface ModelFiles {
  /** the folder with the tokenizer files (the model folder, or its hf/ subfolder) */
  metaDir: string;
  /** the file the architecture comes from: config.json, or genai_config.json in an onnxruntime-genai folder */
  configFile: string;
  config: Record<string, any>;
  /** set for onnxruntime-genai folders */
  genai: Record<string, any> | null;
  variants: Variant[];
  /** RoPE frequencies read from the graph's tables (genai folders without config.json) */
  ropeInvFreq: Float32Array | null;
}

/**
 * Reads the folder's layout: HF files in the folder or in hf/, graphs in onnx/ (or at the root), and
 * onnxruntime-genai folders, whose genai_config.json names the decoder file and replaces config.json.
 */
export function readModelFiles(dir: string, dirArg: string): ModelFiles {
  const metaDir = existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'hf')) ? dir : join(dir, 'hf');
  const genaiFile = join(dir, 'genai_config.json');
  const genai = existsSync(genaiFile) ? readJson(genaiFile, 'genai_config.json', dirArg) : null;
  const configFile = existsSync(join(metaDir, 'config.json')) || !genai ? join(metaDir, 'config.json') : genaiFile;
  let config = readJson(configFile, 'config.json', dirArg);
  const listing = [
    ...readdirSync(dir),
    ...(existsSync(join(dir, 'onnx')) ? readdirSync(join(dir, 'onnx')).map((f) => `onnx/${f}`) : []),
  ];
  // a genai folder may hold other graphs (embedding, vision): its config names the decoder
  const decoderFile = genai?.model?.decoder?.filename;
  const variants = listVariants(listing).filter((v) => v.genaiDir === null || typeof decoderFile !== 'string' || v.file === decoderFile);
  let ropeInvFreq: Float32Array | null = null;
  if (genai && configFile === genaiFile && variants.length > 0) {
    ({ config, invFreq: ropeInvFreq } = configFromGenai(genai, join(dir, variants[0].file), dirArg));
  }
  return { metaDir, configFile, config, genai, variants, ropeInvFreq };
}

export function readJson(file: string, what: string, dirArg: string): Record<string, any> {
  if (!existsSync(file)) throw new ModelLoadError(`Model folder ${dirArg} has no ${what}.`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ModelLoadError(`${what} in ${dirArg} is not valid JSON.`);
  }
}

/** A variant as `perpetua models check` and the model manager show it. */
export interface VariantInfo extends Variant {
  /** the element type of past_key_values.0.key as the graph declares it */
  kvDtype: string;
  /** graph and external data on disk */
  sizeBytes: number;
}

const ELEMENT_TYPES: Record<number, string> = { 1: 'float32', 10: 'float16', 16: 'bfloat16' };

/** Every variant of a model folder with its KV dtype and size, read from the files without loading any. */
export function describeVariants(dir: string, files: ModelFiles): VariantInfo[] {
  return files.variants.map((v) => {
    const graph = join(dir, v.file);
    const contents = readOnnxContents(graph);
    const kv = contents.inputs.find((i) => i.name === 'past_key_values.0.key');
    const data = new Set(contents.initializers.flatMap((t) => (t.external ? [join(dirname(graph), t.external.location)] : [])));
    const sizeBytes = [graph, ...data].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
    return { ...v, kvDtype: kv ? (ELEMENT_TYPES[kv.elemType] ?? `type ${kv.elemType}`) : 'none', sizeBytes };
  });
}

/** describeVariants for a folder by path. */
export function folderVariants(dir: string): VariantInfo[] {
  return describeVariants(dir, readModelFiles(dir, dir));
}
