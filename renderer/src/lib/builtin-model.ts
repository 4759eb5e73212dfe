import type { ModelInfo } from './api.js';

/** The folder name of the built-in model (BUILTIN_MODEL_NAME in main/models/builtin-model.ts, which the renderer cannot import). */
const BUILTIN = 'perpetua-gutenberg';

/** The project's own 2.4M-parameter story model: the app explains it is not a chat assistant wherever it is chosen. */
export function isBuiltinModel(m: Pick<ModelInfo, 'name' | 'path'>): boolean {
  return m.name === BUILTIN || m.path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() === BUILTIN;
}
