import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build script without type declarations
import { cannotRun, checkFuses, electronBinary } from './smoke-packaged.mjs';
import { fakeElectronBinary } from './fixtures/fake-electron.js';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-smoke-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run smoke:packaged', () => {
  it("without Electron's binary (and not allowed to fetch it) exits 1 with one sentence, before building anything", () => {
    const script = fileURLToPath(new URL('./smoke-packaged.mjs', import.meta.url));
    const env = { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'missing'), ELECTRON_SKIP_BINARY_DOWNLOAD: '1' };
    const r = spawnSync(process.execPath, [script], { env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      "The packaged smoke test needs Electron's binary, which is not installed here and ELECTRON_SKIP_BINARY_DOWNLOAD forbids fetching it; run `npm run smoke:packaged` without that variable on a machine with internet.",
    );
  });

  it('finds the binary where node_modules/electron would run it, and asks for a display on Linux', () => {
    writeFileSync(join(dir, 'electron'), '');
    const env = { ELECTRON_OVERRIDE_DIST_PATH: dir };
    expect(electronBinary(env)).toBe(join(dir, 'electron'));
    expect(cannotRun(env, 'linux')).toMatch(/^The packaged smoke test opens a window .* run it as `xvfb-run -a npm run smoke:packaged`\.$/);
    expect(cannotRun({ ...env, DISPLAY: ':99' }, 'linux')).toBeNull();
    expect(cannotRun(env, 'darwin')).toBeNull();
  });

  it("checks the packaged binary's fuses: a release's, refusing a binary left at Electron's defaults", async () => {
    const fuses = createRequire(import.meta.url)('@electron/fuses') as typeof import('@electron/fuses');
    const F = fuses.FuseV1Options;
    const untouched = fakeElectronBinary(dir, 'untouched');
    await expect(checkFuses(untouched)).rejects.toThrow("The packaged binary's RunAsNode fuse is on, not off.");
    const release = fakeElectronBinary(dir, 'release');
    await fuses.flipFuses(release, {
      version: fuses.FuseVersion.V1,
      [F.RunAsNode]: false,
      [F.EnableNodeOptionsEnvironmentVariable]: false,
      [F.EnableNodeCliInspectArguments]: true,
      [F.EnableCookieEncryption]: true,
      [F.EnableEmbeddedAsarIntegrityValidation]: true,
      [F.OnlyLoadAppFromAsar]: true,
      [F.GrantFileProtocolExtraPrivileges]: false,
    });
    await expect(checkFuses(release)).resolves.toBeUndefined();
  });
});
