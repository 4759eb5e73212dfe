import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeElectronBinary } from './fixtures/fake-electron.js';

const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(s: string): Record<string, unknown> };
const fuses = require('@electron/fuses') as typeof import('@electron/fuses');
const { PlatformPackager } = require('app-builder-lib') as {
  PlatformPackager: { prototype: { generateFuseConfig(f: unknown): Promise<import('@electron/fuses').FuseV1Config> } };
};

const dir = mkdtempSync(join(tmpdir(), 'perpetua-fuses-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = yaml.load(readFileSync(new URL('../electron-builder.yml', import.meta.url), 'utf8'));

describe('Electron fuses in the packaged app', () => {
  it('are configured in electron-builder.yml and flipped as electron-builder flips them', async () => {
    expect(config.electronFuses).toBeTruthy();
    const wireConfig = await PlatformPackager.prototype.generateFuseConfig.call({}, config.electronFuses);
    const binary = fakeElectronBinary(dir);
    await fuses.flipFuses(binary, wireConfig);
    const wire = await fuses.getCurrentFuseWire(binary);
    const F = fuses.FuseV1Options;
    const FuseState = { ENABLE: '1'.charCodeAt(0), DISABLE: '0'.charCodeAt(0) };
    expect(wire[F.RunAsNode]).toBe(FuseState.DISABLE);
    expect(wire[F.EnableNodeOptionsEnvironmentVariable]).toBe(FuseState.DISABLE);
    expect(wire[F.EnableNodeCliInspectArguments]).toBe(FuseState.DISABLE);
    expect(wire[F.EnableCookieEncryption]).toBe(FuseState.ENABLE);
    expect(wire[F.EnableEmbeddedAsarIntegrityValidation]).toBe(FuseState.ENABLE);
    expect(wire[F.OnlyLoadAppFromAsar]).toBe(FuseState.ENABLE);
    expect(wire[F.GrantFileProtocolExtraPrivileges]).toBe(FuseState.DISABLE);
  });
});
