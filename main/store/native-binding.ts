/**
 * better-sqlite3 is a native addon, compiled for one runtime ABI. Node (tests, the CLI) loads the build in
 * node_modules; Electron loads a build made for its own ABI by `npm run native:electron`, kept beside it in
 * build/native/, so neither build ever overwrites the other.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerpetuaError } from '../shared/errors.js';

/** The JavaScript runtime a native addon must have been compiled for. */
export interface Runtime {
  readonly name: 'node' | 'electron';
  readonly version: string;
  /** NODE_MODULE_VERSION (process.versions.modules). */
  readonly abi: string;
  readonly platform: string;
  readonly arch: string;
}

export function currentRuntime(): Runtime {
  const electron = process.versions.electron;
  return {
    name: electron ? 'electron' : 'node',
    version: electron ?? process.versions.node,
    abi: process.versions.modules,
    platform: process.platform,
    arch: process.arch,
  };
}

/** The command that builds the addon for a runtime (what the error tells a developer to run). */
export function fixCommand(runtime: Runtime): string {
  return runtime.name === 'electron' ? 'npm run native:electron' : 'npm rebuild better-sqlite3';
}

/** Folder of the Electron build for one ABI and target, below build/native/ (resources/native/ in a package). */
export function electronBindingFolder(abi: string, platform: string, arch: string): string {
  return `electron-${abi}-${platform}-${arch}`;
}

const require = createRequire(import.meta.url);

/**
 * Where the addon for `runtime` lives, given the package root (the folder holding package.json): for Electron,
 * build/native/ in a checkout, or resources/native/ beside app.asar in a package (electron-builder's
 * extraResources: dlopen cannot read inside the archive).
 */
export function sqliteBindingFile(runtime: Runtime, root: string): string {
  if (runtime.name === 'node') {
    return join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  }
  const nativeDir = basename(root) === 'app.asar' ? join(dirname(root), 'native') : join(root, 'build', 'native');
  return join(nativeDir, electronBindingFolder(runtime.abi, runtime.platform, runtime.arch), 'better_sqlite3.node');
}

/** The addon is missing or was built for another runtime. */
export class NativeModuleError extends PerpetuaError {
  override readonly code = 'native_module_unusable';
  constructor(
    message: string,
    readonly file: string,
    readonly runtime: Runtime,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function describeRuntime(r: Runtime): string {
  return `${r.name === 'electron' ? 'Electron' : 'Node'} ${r.version} (ABI ${r.abi}, ${r.platform}-${r.arch})`;
}

/**
 * Loads the addon built for `runtime` and returns its path for better-sqlite3's `nativeBinding` option (which
 * then finds it in the require cache); a missing or mismatched file becomes one sentence naming the runtime,
 * its ABI and the command that fixes it.
 */
export function loadSqliteBinding(runtime: Runtime = currentRuntime(), root: string = packageRoot()): string {
  const file = sqliteBindingFile(runtime, root);
  if (!existsSync(file)) {
    throw new NativeModuleError(
      `The SQLite module for ${describeRuntime(runtime)} is missing (${file}); run \`${fixCommand(runtime)}\` to build it.`,
      file,
      runtime,
    );
  }
  try {
    require(file);
    return file;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ERR_DLOPEN_FAILED') throw cause;
    throw new NativeModuleError(
      `The SQLite module ${file} was not built for ${describeRuntime(runtime)}; run \`${fixCommand(runtime)}\` to rebuild it.`,
      file,
      runtime,
      { cause },
    );
  }
}

let loaded: string | undefined;

/** The addon for the running runtime, checked once per process. */
export function sqliteBinding(): string {
  loaded ??= loadSqliteBinding();
  return loaded;
}

/** The nearest folder above this file holding package.json: the checkout, or resources/app.asar in a package. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`No package.json above ${fileURLToPath(import.meta.url)}.`);
    dir = up;
  }
  return dir;
}
