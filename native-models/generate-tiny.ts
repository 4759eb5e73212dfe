import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { generateTinyModel, writeModelFolder } from './tiny-model.js';

/** Repository root: the nearest folder holding package.json (works from source and from dist/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** The generated tiny model that unit tests and the CLI fall back to. */
export const TINY_MODEL_DIR = join(repoRoot(), 'native-models', 'generated', 'tiny-llama');

/** Writes the tiny model if it is not there yet; returns its folder. */
export function ensureTinyModel(dir = TINY_MODEL_DIR): string {
  if (!existsSync(join(dir, 'onnx', 'model.onnx'))) writeModelFolder(dir, generateTinyModel());
  return dir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? TINY_MODEL_DIR;
  writeModelFolder(dir, generateTinyModel());
  console.log(`Wrote the tiny test model to ${dir}`);
}
