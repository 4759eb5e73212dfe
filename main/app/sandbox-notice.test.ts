import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { sandboxNotice } from './sandbox-notice.js';

describe('AppImage sandbox fallback', () => {
  it('is said once in the log, only for an AppImage started without the sandbox', () => {
    const notice = sandboxNotice({ APPIMAGE: '/home/u/Perpetua.AppImage' }, ['/tmp/.mount_P/perpetua', '--no-sandbox']);
    expect(notice).toMatch(/^Chromium's sandbox is off for this run: .*AppImage.*--no-sandbox; install the \.deb .* to keep it on\.$/);
    expect(notice).not.toContain('\n');
    expect(sandboxNotice({ APPIMAGE: '/home/u/Perpetua.AppImage' }, ['/tmp/.mount_P/perpetua'])).toBeNull();
    expect(sandboxNotice({}, ['/opt/Perpetua/perpetua', '--no-sandbox'])).toBeNull();
  });

  it("relies on electron-builder's AppImage launcher, which adds --no-sandbox only where user namespaces fail", () => {
    const require = createRequire(import.meta.url);
    const appRun = readFileSync(require.resolve('app-builder-lib/out/targets/appimage/appImageUtil.js'), 'utf8');
    expect(appRun).toContain('! unshare -Ur true');
    expect(appRun).toContain('NO_SANDBOX=(--no-sandbox)');
  });
});
