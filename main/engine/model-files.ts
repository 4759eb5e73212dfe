import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { weightDtype } from './weight-dtype.js';
import { readOnnxContents } from './onnx-contents.js';
import { configFromGenai } from './genai-config.js';
import { ModelLoadError } from './errors.js';
import { PerpetuaError } from '../shared/errors.js';
import { checkFolderFile, FolderFileError, readFolderFile } from '../shared/folder-file.js';
import { MODEL_FILE_LIMITS } from './model-file-limits.js';
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
  const genai = existsSync(genaiFile) ? readJson(genaiFile, 'genai_config.json', dirArg, MODEL_FILE_LIMITS.config, dir) : null;
  const configFile = existsSync(join(metaDir, 'config.json')) || !genai ? join(metaDir, 'config.json') : genaiFile;
  let config = readJson(configFile, configFile === genaiFile ? 'genai_config.json' : 'config.json', dirArg, MODEL_FILE_LIMITS.config, dir);
  const onnxDir = join(dir, 'onnx');
  const listing = [...readdirSync(dir), ...(isFolder(onnxDir) ? readdirSync(onnxDir).map((f) => `onnx/${f}`) : [])];
  // a genai folder may hold other graphs (embedding, vision): its config names the decoder
  const decoderFile = genai?.model?.decoder?.filename;
  const variants = listVariants(listing).filter((v) => v.genaiDir === null || typeof decoderFile !== 'string' || v.file === decoderFile);
  let ropeInvFreq: Float32Array | null = null;
  if (genai && configFile === genaiFile && variants.length > 0) {
    ({ config, invFreq: ropeInvFreq } = configFromGenai(genai, checkModelFile(dir, join(dir, variants[0].file), dirArg), dirArg));
  }
  return { metaDir, configFile, config, genai, variants, ropeInvFreq };
}

/**
 * A JSON object from a file the model folder names: a regular file inside `root` (default: the file's own folder)
 * of at most `maxBytes` (default: the bound for a file of that name), else a sentence naming the file.
 */
export function readJson(file: string, what: string, dirArg: string, maxBytes: number = limitOf(what), root = dirname(file)): Record<string, any> {
  if (!existsSync(file)) throw new ModelLoadError(`Model folder ${dirArg} has no ${what}.`);
  const bytes = readModelFile(root, file, what, dirArg, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ModelLoadError(`The ${what} in ${dirArg} is not valid JSON.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelLoadError(`The ${what} in ${dirArg} does not hold a JSON object.`);
  }
  return parsed as Record<string, any>;
}

/** The bytes of a file the model folder names, after the checks of readFolderFile, as a ModelLoadError naming it. */
export function readModelFile(root: string, file: string, what: string, dirArg: string, maxBytes: number): Buffer {
  try {
    return readFolderFile(root, file, maxBytes);
  } catch (err) {
    if (err instanceof FolderFileError) throw new ModelLoadError(`The ${what} in ${dirArg} ${err.reason}.`);
    throw err;
  }
}

/** `file` (inside `root`) checked as a regular file inside it, as a ModelLoadError naming it. */
export function checkModelFile(root: string, file: string, dirArg: string, maxBytes: number = MODEL_FILE_LIMITS.weights): string {
  try {
    return checkFolderFile(root, file, maxBytes).path;
  } catch (err) {
    if (err instanceof FolderFileError) throw new ModelLoadError(`The ${relative(root, file) || file} in ${dirArg} ${err.reason}.`);
    throw err;
  }
}

function limitOf(what: string): number {
  return (MODEL_FILE_LIMITS as Record<string, number>)[what] ?? MODEL_FILE_LIMITS.config;
}

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
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
    // each graph and data file is checked (regular, inside the folder) before it is opened: a FIFO would hang
    const graph = checkModelFile(dir, join(dir, v.file), dir);
    let contents;
    try {
      contents = readOnnxContents(graph);
    } catch (err) {
      if (err instanceof PerpetuaError) throw err;
      throw new ModelLoadError(`The ${v.file} in ${dir} is not a readable ONNX graph (${(err as Error).message}).`);
    }
    const kv = contents.inputs.find((i) => i.name === 'past_key_values.0.key');
    const locations = new Set(contents.initializers.flatMap((t) => (t.external ? [join(dirname(graph), t.external.location)] : [])));
    const data = [...locations].filter((f) => existsSync(f)).map((f) => checkModelFile(dirname(graph), f, dir));
    const sizeBytes = [graph, ...data].reduce((n, f) => n + statSync(f).size, 0);
    // the plain model.onnx is "fp32" by name; what it holds is read from the graph
    const dtype = v.name === 'fp32' ? weightDtype(contents) : v.dtype;
    return { ...v, dtype, kvDtype: kv ? (ELEMENT_TYPES[kv.elemType] ?? `type ${kv.elemType}`) : 'none', sizeBytes };
  });
}

/** describeVariants for a folder by path. */
export function folderVariants(dir: string): VariantInfo[] {
  return describeVariants(dir, readModelFiles(dir, dir));
}
