import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
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

/**
 * A copy of the model folder `from` at `to` that is another model (its own fingerprint): config.json gets
 * `changes`, and a key that marks it a copy even when there are none.
 */
export function copyModelAs(from: string, to: string, changes: Record<string, unknown> = {}): string {
  cpSync(from, to, { recursive: true });
  const config = JSON.parse(readFileSync(join(to, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(to, 'config.json'), JSON.stringify({ ...config, perpetua_test_copy: true, ...changes }));
  return to;
}

/** The real fixtures beside the checkout (../shared/models), when this machine has them. */
export const FIXTURES = {
  tinystories: join(process.cwd(), '..', 'shared', 'models', 'tinystories-656k'),
  stories260k: join(process.cwd(), '..', 'shared', 'models', 'stories260k'),
};

export function fixtureAvailable(dir: string): boolean {
  return existsSync(join(dir, 'onnx', 'model.onnx'));
}
