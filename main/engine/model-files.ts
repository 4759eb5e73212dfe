import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { dataFilesOf, listVariants, type Variant } from './variants.js';

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
  const variants = listVariants(listing);
  const decoderFile = genai?.model?.decoder?.filename;
  if (typeof decoderFile === 'string' && !variants.some((v) => v.file === decoderFile)) {
    variants.unshift({ name: decoderFile.replace(/\.onnx$/, ''), file: decoderFile, dataFiles: dataFilesOf(decoderFile, listing) });
  }
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
