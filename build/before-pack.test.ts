import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build script without type declarations
import { checkOnnxruntimeTarget } from './before-pack.mjs';

describe('electron-builder beforePack', () => {
  it('refuses, in one sentence, a target onnxruntime-node ships no binary for (darwin-x64 in 1.30)', () => {
    expect(() => checkOnnxruntimeTarget('darwin', 'x64')).toThrow(
      /^onnxruntime-node ships no binary for darwin-x64 \(.*napi-v6[\\/]darwin[\\/]x64 is missing\), so Perpetua cannot be packaged for it; remove that target from electron-builder\.yml\.$/,
    );
  });

  it('accepts the targets it ships binaries for', () => {
    for (const [platform, arch] of [['linux', 'x64'], ['linux', 'arm64'], ['darwin', 'arm64'], ['win32', 'x64']]) {
      expect(() => checkOnnxruntimeTarget(platform, arch)).not.toThrow();
    }
  });
});
