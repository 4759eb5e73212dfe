import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILTIN_MODEL_NAME, builtinModelDir, installBuiltinModel } from './builtin-model.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'perpetua-builtin-'));
  dirs.push(d);
  return d;
}

function fakeSource(root: string, config: string): string {
  const src = join(root, 'src');
  mkdirSync(join(src, 'onnx'), { recursive: true });
  writeFileSync(join(src, 'config.json'), config);
  writeFileSync(join(src, 'onnx', 'model.onnx'), 'graph');
  return src;
}

describe('the built-in model', () => {
  it('is committed in native-models/ with its graph, config and tokenizer', () => {
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md'])
      expect(existsSync(join(builtinModelDir(), f)), f).toBe(true);
    expect(readdirSync(join(builtinModelDir(), 'onnx')).some((f) => f.endsWith('.onnx'))).toBe(true);
  });

  it('is copied into the models folder on first run, left alone after, replaced when a new build ships another', () => {
    const root = scratch();
    const models = join(root, 'models');
    const src = fakeSource(root, '{"v":1}');
    expect(installBuiltinModel(src, models)).toBe('installed');
    const target = join(models, BUILTIN_MODEL_NAME);
    expect(readFileSync(join(target, 'onnx', 'model.onnx'), 'utf8')).toBe('graph');
    expect(installBuiltinModel(src, models)).toBe('present');
    writeFileSync(join(src, 'config.json'), '{"v":2}');
    expect(installBuiltinModel(src, models)).toBe('updated');
    expect(readFileSync(join(target, 'config.json'), 'utf8')).toBe('{"v":2}');
    expect(readdirSync(models)).toEqual([BUILTIN_MODEL_NAME]);
  });

  it('replaces a half-finished earlier copy and reports a missing source', () => {
    const root = scratch();
    const models = join(root, 'models');
    mkdirSync(join(models, `${BUILTIN_MODEL_NAME}.installing`), { recursive: true });
    writeFileSync(join(models, `${BUILTIN_MODEL_NAME}.installing`, 'junk'), 'x');
    expect(installBuiltinModel(fakeSource(root, '{}'), models)).toBe('installed');
    expect(readdirSync(models)).toEqual([BUILTIN_MODEL_NAME]);
    expect(existsSync(join(models, BUILTIN_MODEL_NAME, 'junk'))).toBe(false);
    expect(installBuiltinModel(join(root, 'nowhere'), join(root, 'other'))).toBe('no-source');
  });
});
