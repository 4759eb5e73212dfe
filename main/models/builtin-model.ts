import { cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's own model, trained on Gutenberg books and committed with the code (see its README.md). */
export const BUILTIN_MODEL_NAME = 'perpetua-gutenberg';

/** Repository (or installed package) root: the nearest folder holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** The built-in model in a checkout or an npm install (native-models/perpetua-gutenberg). */
export function builtinModelDir(): string {
  return join(packageRoot(), 'native-models', BUILTIN_MODEL_NAME);
}

export type BuiltinInstall = 'installed' | 'updated' | 'present' | 'no-source';

/**
 * Copies the built-in model from `sourceDir` (the app's read-only resources) into the user's models folder on
 * first run, and again when a newer build ships a different one (told apart by its config.json). The copy goes
 * to a temporary folder that is renamed into place, so a crash mid-copy never leaves a half model under the
 * real name.
 */
export function installBuiltinModel(sourceDir: string, modelsDir: string): BuiltinInstall {
  const sourceConfig = join(sourceDir, 'config.json');
  if (!existsSync(sourceConfig)) return 'no-source';
  const target = join(modelsDir, BUILTIN_MODEL_NAME);
  const targetConfig = join(target, 'config.json');
  const had = existsSync(targetConfig);
  if (had && readFileSync(targetConfig, 'utf8') === readFileSync(sourceConfig, 'utf8')) return 'present';
  const staging = `${target}.installing`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(sourceDir, staging, { recursive: true });
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return had ? 'updated' : 'installed';
}
