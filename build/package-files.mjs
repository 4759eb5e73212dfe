#!/usr/bin/env node
/**
 * Which files of the native packages (onnxruntime-node, better-sqlite3, webgpu) electron-builder puts into each target's
 * app, computed with electron-builder's own node_modules file matcher and electron-builder.yml, so the
 * per-platform rules can be checked (and measured) without packaging. `npm run package:sizes` prints the table.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const yaml = require('js-yaml');
const { getNodeModuleFileMatcher } = require('app-builder-lib/out/fileMatcher');
const { expandMacro } = require('app-builder-lib/out/util/macroExpander');

const root = fileURLToPath(new URL('..', import.meta.url));
export const NATIVE_PACKAGES = ['onnxruntime-node', 'better-sqlite3', 'webgpu'];
/** electron-builder's platform keys → Node's platform names. */
const OS_KEY = { linux: 'linux', darwin: 'mac', win32: 'win' };

export function builderConfig() {
  return yaml.load(readFileSync(join(root, 'electron-builder.yml'), 'utf8'));
}

function walk(dir, keep, out) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const stat = lstatSync(file);
    if (!keep(file, stat)) continue;
    if (stat.isDirectory()) walk(file, keep, out);
    else out.push({ file: relative(root, file).split('\\').join('/'), size: stat.size });
  }
  return out;
}

/** The native packages' files (path relative to the checkout, size) packaged for one target. */
export function nativeFilesFor(platform, arch, config = builderConfig()) {
  const os = OS_KEY[platform];
  const appInfo = { productName: 'Perpetua', sanitizedProductName: 'Perpetua', productFilename: 'Perpetua', version: '0' };
  const macros = (p) => expandMacro(p, arch, appInfo, { os });
  const matcher = getNodeModuleFileMatcher(root, '/app', macros, config[os] ?? {}, { config, debugLogger: { isEnabled: false } });
  const keep = matcher.isEmpty() ? () => true : matcher.createFilter();
  return NATIVE_PACKAGES.flatMap((p) => walk(join(root, 'node_modules', p), keep, []));
}

/** Every file of the native packages (what a package held when all of them were unpacked). */
export function allNativeFiles() {
  return NATIVE_PACKAGES.flatMap((p) => walk(join(root, 'node_modules', p), () => true, []));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mb = (files) => `${(files.reduce((s, f) => s + f.size, 0) / 1e6).toFixed(1)} MB`;
  console.log(`native packages, all platforms (every file): ${mb(allNativeFiles())}`);
  for (const [platform, arch] of [['linux', 'x64'], ['linux', 'arm64'], ['darwin', 'arm64'], ['win32', 'x64']]) {
    console.log(`${platform}-${arch}: ${mb(nativeFilesFor(platform, arch))} (+ resources/native better_sqlite3.node for Electron)`);
  }
}
