/**
 * AppImage and Chromium's sandbox: an AppImage runs from a nosuid FUSE mount, so the setuid sandbox helper
 * cannot work, and Ubuntu 23.10+ (AppArmor) forbids the unprivileged user namespaces the other sandbox needs.
 * electron-builder's AppImage launcher (AppRun) then starts the app with --no-sandbox instead of letting it
 * abort; this says so in the log, once, with how to keep the sandbox on.
 */
export function sandboxNotice(env: NodeJS.ProcessEnv, argv: readonly string[]): string | null {
  if (!env.APPIMAGE || !argv.includes('--no-sandbox')) return null;
  return (
    "Chromium's sandbox is off for this run: this system does not let an AppImage create user namespaces " +
    '(kernel.apparmor_restrict_unprivileged_userns=1 on Ubuntu 23.10+), so the AppImage launcher added --no-sandbox; ' +
    'install the .deb (it brings an AppArmor profile) or see "AppImage and the sandbox" in the README to keep it on.'
  );
}
