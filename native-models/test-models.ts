import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRAPH_BUILDER_HASH } from './builder-hash.js';
import { generateTinyModel, writeModelFolder, type TinyModelOptions } from './tiny-model.js';

/** Writes (once per machine and graph builder) a generated model variant for tests and returns its folder. */
export function testModelDir(opts: TinyModelOptions = {}): string {
  const key = Object.entries(opts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')
    .replace(/[^a-zA-Z0-9=,._-]/g, '_');
  const dir = join(tmpdir(), 'perpetua-test-models', GRAPH_BUILDER_HASH, key || 'default');
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
