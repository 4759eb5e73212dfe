import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/main/app (this file once compiled). */
const here = dirname(fileURLToPath(import.meta.url));
/** dist/ */
const distDir = join(here, '..', '..');

/** Served as app://perpetua/ (app-protocol.ts). */
export const rendererDir = join(distDir, 'renderer');
export const preloadScript = join(distDir, 'preload', 'preload.cjs');
export const coreEntry = join(distDir, 'main', 'core', 'core-process.js');

/** Models shipped with the app (electron-builder extraResources → resources/models; ./models in a checkout). */
export function bundledModelsDir(resourcesPath: string, packaged: boolean): string {
  return packaged ? join(resourcesPath, 'models') : join(distDir, '..', 'models');
}
