import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository (or installed package) root: the nearest folder holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/**
 * The model used when none is named: $PERPETUA_MODEL, then a model shipped in native-models/, then the
 * TinyStories fixture beside a development checkout, then the generated tiny test model.
 */
export function defaultModelDir(): string {
  if (process.env.PERPETUA_MODEL) return resolve(process.env.PERPETUA_MODEL);
  const root = packageRoot();
  const candidates = [
    join(root, 'native-models', 'perpetua-sink'),
    join(root, 'native-models', 'perpetua-vanilla'),
    join(root, '..', 'shared', 'models', 'tinystories-656k'),
    join(root, 'native-models', 'generated', 'tiny-llama'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'onnx'))) ?? candidates[candidates.length - 1];
}
