#!/usr/bin/env node
/**
 * `npm run smoke:packaged`: builds the unpacked app (electron-builder --dir) and drives it with Playwright's
 * Electron support: one chat turn with the built-in model, a restart, and a resumed second turn in the same
 * session. Needs Electron's binary (since Electron 42 it is fetched on first use, not by `npm ci`: this fetches it
 * unless ELECTRON_SKIP_BINARY_DOWNLOAD is set); without it, says so in one sentence and exits 1. The smoke build
 * keeps the --inspect fuse on (Playwright attaches through the Node inspector); every other fuse is as in a release.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Electron's binary as node_modules/electron would run it (without its download-on-require). */
export function electronBinary(env = process.env) {
  const pkg = join(root, 'node_modules', 'electron');
  const pathFile = join(pkg, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8') : null;
  const file = env.ELECTRON_OVERRIDE_DIST_PATH
    ? join(env.ELECTRON_OVERRIDE_DIST_PATH, relative || 'electron')
    : relative && join(pkg, 'dist', relative);
  return file && existsSync(file) ? file : null;
}

/** Fetches Electron's binary the way `require('electron')` would; the first line of the failure, or null. */
function fetchElectron(env) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'electron', 'install.js')], { env, encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n')[0];
}

/** Why the smoke test cannot run here, in one sentence, or null. */
export function cannotRun(env = process.env, platform = process.platform) {
  if (!electronBinary(env)) {
    if (env.ELECTRON_SKIP_BINARY_DOWNLOAD) {
      return "The packaged smoke test needs Electron's binary, which is not installed here and ELECTRON_SKIP_BINARY_DOWNLOAD forbids fetching it; run `npm run smoke:packaged` without that variable on a machine with internet.";
    }
    const failure = fetchElectron(env);
    if (failure || !electronBinary(env)) {
      return `The packaged smoke test needs Electron's binary, which is not installed here and could not be downloaded (${failure ?? 'no binary after the download'}); run \`npm run smoke:packaged\` on a machine with internet.`;
    }
  }
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return 'The packaged smoke test opens a window and this Linux session has no display; run it as `xvfb-run -a npm run smoke:packaged`.';
  }
  return null;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}).`);
}

function unpackedExecutable() {
  const candidates = {
    linux: [join(root, 'out', process.arch === 'arm64' ? 'linux-arm64-unpacked' : 'linux-unpacked', 'perpetua')],
    darwin: [join(root, 'out', `mac-${process.arch}`, 'Perpetua.app', 'Contents', 'MacOS', 'Perpetua'), join(root, 'out', 'mac', 'Perpetua.app', 'Contents', 'MacOS', 'Perpetua')],
    win32: [join(root, 'out', 'win-unpacked', 'Perpetua.exe')],
  }[process.platform] ?? [];
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new Error(`electron-builder --dir produced none of ${candidates.join(', ')}.`);
  return found;
}

/** The fuses of the packaged binary are a release's (but for --inspect, which Playwright needs). */
export async function checkFuses(executable) {
  const { getCurrentFuseWire, FuseV1Options } = await import('@electron/fuses');
  const app = process.platform === 'darwin' ? executable.slice(0, executable.indexOf('.app') + 4) : executable;
  const wire = await getCurrentFuseWire(app);
  const expected = {
    RunAsNode: false,
    EnableNodeOptionsEnvironmentVariable: false,
    EnableCookieEncryption: true,
    EnableEmbeddedAsarIntegrityValidation: true,
    OnlyLoadAppFromAsar: true,
    GrantFileProtocolExtraPrivileges: false,
  };
  for (const [name, on] of Object.entries(expected)) {
    const isOn = wire[FuseV1Options[name]] === '1'.charCodeAt(0);
    if (isOn !== on) throw new Error(`The packaged binary's ${name} fuse is ${isOn ? 'on' : 'off'}, not ${on ? 'on' : 'off'}.`);
  }
}

async function chatTurn(page, text) {
  const before = await page.locator('[data-testid=message][data-role=assistant]').count();
  await page.fill('[data-testid=composer-input]', text);
  await page.keyboard.press('Enter');
  // done: the new answer no longer streams and the composer can send again
  await page.waitForSelector(`[data-testid=message][data-role=assistant]:not([data-state=streaming]) >> nth=${before}`, { timeout: 300_000 });
  await page.waitForSelector('[data-testid=send]', { timeout: 60_000 });
  const answer = (await page.locator('[data-testid=message][data-role=assistant]').nth(before).textContent())?.trim() ?? '';
  if (!answer) throw new Error(`The built-in model gave an empty answer to "${text}".`);
  return answer;
}

async function launch(executablePath, userData) {
  const { _electron } = await import('playwright-core');
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  const app = await _electron.launch({ executablePath, args, env: { ...process.env, PERPETUA_USER_DATA: userData }, timeout: 120_000 });
  const page = await app.firstWindow();
  await page.waitForSelector('html[data-ready="true"]', { timeout: 120_000 });
  return { app, page };
}

async function smoke() {
  run('npm', ['run', 'build']);
  run('npm', ['run', 'build:renderer']);
  run('npx', ['electron-builder', '--config', 'electron-builder.yml', '--dir', '-c.electronFuses.enableNodeCliInspectArguments=true']);
  const executable = unpackedExecutable();
  await checkFuses(executable);
  const userData = mkdtempSync(join(tmpdir(), 'perpetua-smoke-'));
  try {
    // first run: the built-in model is installed and imported; one chat turn in a new session
    let { app, page } = await launch(executable, userData);
    await page.click('[data-testid=new-session]');
    await page.fill('[data-testid=new-session-name]', 'Smoke');
    // enabled once the built-in model is listed (copied and imported on first run)
    await page.click('[data-testid=new-session-create]', { timeout: 180_000 });
    await page.waitForSelector('[data-testid=session-title]:has-text("Smoke")', { timeout: 60_000 });
    const first = await chatTurn(page, 'Once upon a time there was a little fox.');
    console.log(`first answer: ${first.slice(0, 80)}…`);
    await app.close();

    // restart: the session and its answer are there, and a second turn continues it (resumed)
    ({ app, page } = await launch(executable, userData));
    await page.waitForSelector('[data-testid=session-title]:has-text("Smoke")', { timeout: 60_000 });
    await page.waitForSelector('[data-testid=message][data-role=assistant]', { timeout: 60_000 });
    const kept = (await page.locator('[data-testid=message][data-role=assistant]').first().textContent())?.trim();
    if (kept !== first) throw new Error('After the restart the first answer is not shown as it was.');
    const second = await chatTurn(page, 'The fox found a red apple.');
    console.log(`second answer (resumed session): ${second.slice(0, 80)}…`);
    await app.close();
    console.log('packaged smoke test passed: one turn, a restart, a resumed turn');
  } finally {
    rmSync(userData, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const reason = cannotRun();
  if (reason) {
    console.error(reason);
    process.exit(1);
  }
  try {
    await smoke();
  } catch (err) {
    console.error(`The packaged smoke test failed: ${err.message}`);
    process.exit(1);
  }
}
