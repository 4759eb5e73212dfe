/**
 * electron-builder beforePack hook, once per target platform and arch: refuses a target that onnxruntime-node
 * ships no binary for (a clear build error instead of an app that cannot decode), and builds better-sqlite3 for
 * that target's Electron (build/native-electron.mjs), which electron-builder.yml copies to resources/native/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arch } from 'builder-util';
import { buildSqliteForElectron } from './native-electron.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** onnxruntime-node's binaries for one target (its own layout: bin/napi-v6/<platform>/<arch>). */
export function onnxruntimeBinDir(platform, arch, nodeModules = join(root, 'node_modules')) {
  return join(nodeModules, 'onnxruntime-node', 'bin', 'napi-v6', platform, arch);
}

/** Throws one sentence when onnxruntime-node has no binary for the target. */
export function checkOnnxruntimeTarget(platform, arch, nodeModules) {
  const dir = onnxruntimeBinDir(platform, arch, nodeModules);
  if (!existsSync(join(dir, 'onnxruntime_binding.node'))) {
    throw new Error(
      `onnxruntime-node ships no binary for ${platform}-${arch} (${dir} is missing), so Perpetua cannot be packaged for it; remove that target from electron-builder.yml.`,
    );
  }
}

export default async function beforePack(context) {
  const platform = context.electronPlatformName === 'mas' ? 'darwin' : context.electronPlatformName;
  const arch = Arch[context.arch];
  checkOnnxruntimeTarget(platform, arch);
  const file = await buildSqliteForElectron({ version: context.packager.info.framework.version, platform, arch });
  console.log(`  • better-sqlite3 for Electron ${platform}-${arch}: ${file}`);
}
