import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build script without type declarations
import { cannotRun, electronBinary } from './smoke-packaged.mjs';

const dir = mkdtempSync(join(tmpdir(), 'perpetua-smoke-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run smoke:packaged', () => {
  it("without Electron's binary exits 1 with one sentence, before building anything", () => {
    const script = fileURLToPath(new URL('./smoke-packaged.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script], { env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'missing') }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      "The packaged smoke test needs Electron's binary, which is not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD, or no internet); run `npm ci` on a machine with internet, then `npm run smoke:packaged`.",
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
});
