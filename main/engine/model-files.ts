import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  const config = readJson(configFile, 'config.json', dirArg);
  const listing = [
    ...readdirSync(dir),
    ...(existsSync(join(dir, 'onnx')) ? readdirSync(join(dir, 'onnx')).map((f) => `onnx/${f}`) : []),
  ];
  // a genai folder may hold other graphs (embedding, vision): its config names the decoder
  const decoderFile = genai?.model?.decoder?.filename;
  const variants = listVariants(listing).filter((v) => v.genaiDir === null || typeof decoderFile !== 'string' || v.file === decoderFile);
  return { metaDir, configFile, config, genai, variants };
}

export function readJson(file: string, what: string, dirArg: string): Record<string, any> {
  if (!existsSync(file)) throw new ModelLoadError(`Model folder ${dirArg} has no ${what}.`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ModelLoadError(`${what} in ${dirArg} is not valid JSON.`);
  }
}
