import { resolve } from 'node:path';
import { builtinModelDir } from '../models/builtin-model.js';

export { packageRoot } from '../models/builtin-model.js';

/** The model used when none is named: $PERPETUA_MODEL, else the built-in model (native-models/perpetua-gutenberg). */
export function defaultModelDir(): string {
  return process.env.PERPETUA_MODEL ? resolve(process.env.PERPETUA_MODEL) : builtinModelDir();
}
