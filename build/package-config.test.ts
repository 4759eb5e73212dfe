/**
 * electron-builder.yml, checked with electron-builder's own file matcher and option readers (packaging itself
 * needs Electron's binary; `npm run smoke:packaged` does that on a machine with internet).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
    it(`packages only ${platform}-${arch}'s onnxruntime and Dawn binaries and no better-sqlite3 build`, () => {
      const files = (nativeFilesFor(platform, arch) as Files).map((f) => f.file);
      const onnxBins = files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'));
      expect(onnxBins).toContain(`node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node`);
      expect(onnxBins.every((f) => f.startsWith(`node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/`))).toBe(true);
      expect(files).toContain('node_modules/onnxruntime-node/package.json');
      expect(files).toContain('node_modules/better-sqlite3/lib/database.js');
      expect(files.filter((f) => /better-sqlite3\/(build|deps|src)\//.test(f) || f.endsWith('binding.gyp'))).toEqual([]);
      // Dawn for the adapter probe: this target's binary only (macOS has one universal build)
      const dawn = files.filter((f) => f.startsWith('node_modules/webgpu/dist/'));
      const own = `node_modules/webgpu/dist/${platform === 'darwin' ? 'darwin-universal' : `${platform}-${arch}`}/`;
      expect(dawn).toContain(`${own}dawn.node`);
      expect(dawn.every((f) => f.startsWith(own))).toBe(true);
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

  it("leaves out only packages the app's main and core processes never import", () => {
    // every module reachable from the two entries, following relative imports (static and dynamic) in the sources
    const packages = new Set<string>();
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:from\s*|import\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
        const spec = m[1];
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else packages.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
      }
    };
    for (const entry of ['../main/app/main.ts', '../main/core/core-process.ts']) visit(fileURLToPath(new URL(entry, import.meta.url)));
    expect(packages).toContain('onnxruntime-node');
    expect(packages).toContain('better-sqlite3');
    // whole packages left out: "!node_modules/NAME{,/**}" or "!node_modules/{A,B}{,/**}"
    const leftOut = (config.files as string[]).flatMap((f) => {
      const m = /^!node_modules\/(?:\{([^}]+)\}|([^/{]+))\{,\/\*\*\}$/.exec(f);
      return m ? (m[1] ?? m[2]).split(',') : [];
    });
    expect(leftOut).toEqual(['echarts', 'zrender']);
    for (const p of leftOut) expect(packages.has(p)).toBe(false);
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
