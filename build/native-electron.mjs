#!/usr/bin/env node
/**
 * Builds better-sqlite3 for Electron into build/native/electron-<abi>-<platform>-<arch>/, beside (never over) the
 * Node build in node_modules that `npm test` and the CLI use. @electron/rebuild works on a copy of the module in
 * build/native/.work/, fetching a prebuilt binary for that Electron ABI (prebuild-install) or compiling it.
 *
 *   npm run native:electron [-- --platform darwin --arch arm64]   (run by `npm start`; `npm run dist` runs it
 *                                                                   per target from build/before-pack.mjs)
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The version of the Electron that `npm start` runs and electron-builder packages. */
export function electronVersion() {
  return readJson(join(root, 'node_modules', 'electron', 'package.json')).version;
}

/** Builds (or keeps, when already built from the same sources) the addon for one Electron target; returns its path. */
export async function buildSqliteForElectron({ version = electronVersion(), platform = process.platform, arch = process.arch } = {}) {
  const { getAbi } = await import('node-abi');
  const { electronBindingFolder } = await import(pathToFileURL(join(root, 'dist', 'main', 'store', 'native-binding.js')).href);
  const abi = getAbi(version, 'electron');
  const outDir = join(root, 'build', 'native', electronBindingFolder(abi, platform, arch));
  const outFile = join(outDir, 'better_sqlite3.node');
  const source = join(root, 'node_modules', 'better-sqlite3');
  const stamp = { betterSqlite3: readJson(join(source, 'package.json')).version, electron: version };
  const stampFile = join(outDir, 'built-from.json');
  if (existsSync(outFile) && existsSync(stampFile) && JSON.stringify(readJson(stampFile)) === JSON.stringify(stamp)) return outFile;

  const work = join(root, 'build', 'native', '.work', `${platform}-${arch}`);
  rmSync(work, { recursive: true, force: true });
  const copy = join(work, 'node_modules', 'better-sqlite3');
  mkdirSync(dirname(copy), { recursive: true });
  cpSync(source, copy, { recursive: true, filter: (f) => !f.startsWith(join(source, 'build')) });
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'native-work', private: true, dependencies: { 'better-sqlite3': stamp.betterSqlite3 } }));
  const { rebuild } = await import('@electron/rebuild');
  // npm passes its config to scripts as npm_config_*: a nodedir (Node's own headers) would make node-gyp compile
  // against Node instead of Electron, and a target/runtime/disturl would override Electron's.
  for (const key of ['npm_config_nodedir', 'npm_config_target', 'npm_config_runtime', 'npm_config_disturl', 'npm_config_arch']) delete process.env[key];
  try {
    await rebuild({ buildPath: work, electronVersion: version, platform, arch, onlyModules: ['better-sqlite3'], force: true });
  } catch (cause) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(
      `better-sqlite3 could not be built for Electron ${version} (ABI ${abi}, ${platform}-${arch}): ${cause.message}; run \`npm run native:electron\` again with internet access (it downloads a prebuilt binary, or Electron's headers to compile one).`,
      { cause },
    );
  }
  mkdirSync(outDir, { recursive: true });
  copyFileSync(join(copy, 'build', 'Release', 'better_sqlite3.node'), outFile);
  writeFileSync(stampFile, `${JSON.stringify(stamp)}\n`);
  rmSync(work, { recursive: true, force: true });
  // builds for an older Electron's ABI would otherwise be packaged beside this one (resources/native)
  for (const old of readdirSync(dirname(outDir))) {
    if (old !== basename(outDir) && old.endsWith(`-${platform}-${arch}`) && old.startsWith('electron-')) {
      rmSync(join(dirname(outDir), old), { recursive: true, force: true });
    }
  }
  return outFile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { platform: { type: 'string' }, arch: { type: 'string' } } });
  try {
    const file = await buildSqliteForElectron(values);
    console.log(`better-sqlite3 for Electron: ${file}`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
