/**
 * Folders people try to import that are not ONNX model folders, told apart before anything loads: a GGUF file
 * (llama.cpp; named with its ONNX alternative from the catalog when there is one) and a Hugging Face checkpoint
 * (safetensors, which the app converts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PerpetuaError } from '../shared/errors.js';
import { CATALOG } from './catalog.js';

export type ImportProblemCode = 'gguf_unsupported' | 'needs_conversion';

export class ModelImportError extends PerpetuaError {
  constructor(
    override readonly code: ImportProblemCode,
    message: string,
  ) {
    super(message, { code });
  }
}

/** Throws a ModelImportError with what to do when `path` is a GGUF file or a safetensors checkpoint. */
export function checkImportable(path: string): void {
  if (!existsSync(path)) return; // the loader says the folder is missing
  const isDir = statSync(path).isDirectory();
  const files = isDir ? readdirSync(path) : [basename(path)];
  const onnx = files.some((f) => f.endsWith('.onnx')) || (isDir && existsSync(join(path, 'onnx')));
  if (onnx) return;
  const gguf = files.find((f) => f.toLowerCase().endsWith('.gguf'));
  if (gguf) {
    const alt = onnxAlternative(gguf);
    throw new ModelImportError(
      'gguf_unsupported',
      `${gguf} is a GGUF (llama.cpp) file, which Perpetua cannot run; download the ONNX export instead` +
        (alt ? `: ${alt.name} (${alt.repo}) from the catalog.` : ' (an onnx-community/… repo of the same model) from the catalog or with `perpetua models download`.'),
    );
  }
  if (isDir && files.some((f) => f.endsWith('.safetensors')) && files.includes('config.json')) {
    throw new ModelImportError(
      'needs_conversion',
      `${basename(path)} is a Hugging Face checkpoint (safetensors), not an ONNX export: convert it with "Convert to ONNX" here (or \`perpetua models convert\`), then it imports.`,
    );
  }
}

/** The catalog entry whose name the file's name contains ("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf" → Qwen2.5 0.5B Instruct). */
function onnxAlternative(file: string) {
  const key = (s: string) => s.toLowerCase().replace(/-onnx$/, '').replace(/[^a-z0-9]/g, '');
  const name = key(file);
  return CATALOG.filter((m) => name.includes(key(m.repo.split('/')[1])))
    .sort((a, b) => key(b.repo).length - key(a.repo).length)[0];
}
