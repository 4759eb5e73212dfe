import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateTinyModel, writeModelFolder, type TinyModelOptions } from './tiny-model.js';

/** A hash of the code that writes the graphs, so a changed builder never reuses a model an older one wrote. */
const BUILDER_HASH = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const ext = extname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  for (const dir of [here, join(here, 'graph')]) {
    for (const f of readdirSync(dir).sort()) if (f.endsWith(ext) && !f.includes('.test.')) hash.update(readFileSync(join(dir, f)));
  }
  return hash.digest('hex').slice(0, 12);
})();

/** Writes (once per machine and graph builder) a generated model variant for tests and returns its folder. */
export function testModelDir(opts: TinyModelOptions = {}): string {
  const key = Object.entries(opts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')
    .replace(/[^a-zA-Z0-9=,._-]/g, '_');
  const dir = join(tmpdir(), 'perpetua-test-models', BUILDER_HASH, key || 'default');
  if (!existsSync(join(dir, 'onnx', 'model.onnx'))) writeModelFolder(dir, generateTinyModel(opts));
  return dir;
}

/** The real fixtures beside the checkout (../shared/models), when this machine has them. */
export const FIXTURES = {
  tinystories: join(process.cwd(), '..', 'shared', 'models', 'tinystories-656k'),
  stories260k: join(process.cwd(), '..', 'shared', 'models', 'stories260k'),
};

export function fixtureAvailable(dir: string): boolean {
  return existsSync(join(dir, 'onnx', 'model.onnx'));
}
