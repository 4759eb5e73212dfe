import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_MODEL_NAME } from '../models/builtin-model.js';

/** dist/main/app (this file once compiled). */
const here = dirname(fileURLToPath(import.meta.url));
/** dist/ */
const distDir = join(here, '..', '..');

/** Served as app://perpetua/ (app-protocol.ts). */
export const rendererDir = join(distDir, 'renderer');
export const preloadScript = join(distDir, 'preload', 'preload.cjs');
export const coreEntry = join(distDir, 'main', 'core', 'core-process.js');

/** The built-in model as shipped: electron-builder's extraResources (resources/models/…), or native-models/ in a checkout. */
export function builtinModelSource(resourcesPath: string, packaged: boolean): string {
  return packaged ? join(resourcesPath, 'models', BUILTIN_MODEL_NAME) : join(distDir, '..', 'native-models', BUILTIN_MODEL_NAME);
}
