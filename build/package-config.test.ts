/**
 * electron-builder.yml, checked with electron-builder's own file matcher and option readers (packaging itself
 * needs Electron's binary; `npm run smoke:packaged` does that on a machine with internet).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build scripts without type declarations
import { checkOnnxruntimeTarget } from './before-pack.mjs';
// @ts-expect-error plain ESM build scripts without type declarations
import { builderConfig, nativeFilesFor } from './package-files.mjs';

type Files = { file: string; size: number }[];
const config = builderConfig() as Record<string, any>;
const TARGETS = [
  ['linux', 'x64'],
  ['linux', 'arm64'],
  ['darwin', 'arm64'],
  ['win32', 'x64'],
] as const;

describe('electron-builder configuration', () => {
  it('leaves node_modules as it is (the Node builds that npm test and the CLI load) and builds Electron natives per target', () => {
    expect(config.npmRebuild).toBe(false);
    expect(config.beforePack).toBe('./build/before-pack.mjs');
    for (const os of ['linux', 'mac', 'win']) {
      expect(config[os].extraResources).toContainEqual(expect.objectContaining({ from: 'build/native', to: 'native' }));
    }
  });

  for (const [platform, arch] of TARGETS) {
    it(`packages only ${platform}-${arch}'s onnxruntime binaries and no better-sqlite3 build`, () => {
      const files = (nativeFilesFor(platform, arch) as Files).map((f) => f.file);
      const onnxBins = files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
      expect(onnxBins).toContain(`node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node`);
      expect(onnxBins.every((f) => f.startsWith(`node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/`))).toBe(true);
      expect(files).toContain('node_modules/onnxruntime-node/package.json');
      expect(files).toContain('node_modules/better-sqlite3/lib/database.js');
      expect(files.filter((f) => /better-sqlite3\/(build|deps|src)\//.test(f) || f.endsWith('binding.gyp'))).toEqual([]);
    });
  }

  it('builds only targets onnxruntime-node has binaries for (no x64 dmg while it ships no darwin-x64)', () => {
    const archs = (os: string) =>
      (config[os].target as ({ target: string; arch?: string[] } | string)[]).flatMap((t) => (typeof t === 'string' ? ['x64'] : (t.arch ?? ['x64'])));
    expect(archs('mac')).toEqual(['arm64']);
    for (const [os, platform] of [['linux', 'linux'], ['mac', 'darwin'], ['win', 'win32']]) {
      for (const arch of archs(os)) expect(() => checkOnnxruntimeTarget(platform, arch)).not.toThrow();
    }
  });

  it('ships the built-in model in resources/models', () => {
    expect(config.extraResources).toContainEqual(
      expect.objectContaining({ from: 'native-models/perpetua-gutenberg', to: 'models/perpetua-gutenberg' }),
    );
  });

  it('notarizes with credentials from the environment only', () => {
    expect(config.mac.notarize).toBe(true);
    expect(JSON.stringify(config)).not.toMatch(/APPLE_ID|password|appleApiKey/i);
    const { MacTargetHelper } = createRequire(import.meta.url)('app-builder-lib/out/mac/MacTargetHelper') as {
      MacTargetHelper: { getNotarizeOptions(appPath: string): Record<string, string> | undefined };
    };
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('APPLE_')) delete process.env[k];
      expect(MacTargetHelper.getNotarizeOptions('/x/Perpetua.app')).toBeUndefined();
      Object.assign(process.env, { APPLE_API_KEY: '/keys/AuthKey.p8', APPLE_API_KEY_ID: 'KEYID', APPLE_API_ISSUER: 'issuer' });
      expect(MacTargetHelper.getNotarizeOptions('/x/Perpetua.app')).toMatchObject({ appleApiKey: '/keys/AuthKey.p8', appleApiKeyId: 'KEYID' });
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    }
  });
});
