import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import {
  currentRuntime,
  electronBindingFolder,
  fixCommand,
  loadSqliteBinding,
  NativeModuleError,
  sqliteBindingFile,
  type Runtime,
} from './native-binding.js';

const root = mkdtempSync(join(tmpdir(), 'perpetua-native-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const electron45: Runtime = { name: 'electron', version: '45.5.0', abi: '150', platform: 'linux', arch: 'x64' };

function catchError(fn: () => unknown): NativeModuleError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(NativeModuleError);
    return error as NativeModuleError;
  }
  throw new Error('expected an error');
}

describe('better-sqlite3 native binding per runtime', () => {
  it('under Node uses the build in node_modules, and opens a database with it', () => {
    const rt = currentRuntime();
    expect(rt).toMatchObject({ name: 'node', abi: process.versions.modules, version: process.versions.node });
    const file = loadSqliteBinding(rt, root);
    expect(file).toMatch(/node_modules[\\/]better-sqlite3[\\/]build[\\/]Release[\\/]better_sqlite3\.node$/);
    const db = openDatabase(':memory:', { nativeBinding: file });
    expect(db.prepare('SELECT 1 + 1 AS two').get()).toEqual({ two: 2 });
    db.close();
  });

  it('under Electron looks for the build of its ABI and target in build/native/, or resources/native/ in a package', () => {
    expect(sqliteBindingFile(electron45, '/src/perpetua')).toBe(
      join('/src/perpetua', 'build', 'native', 'electron-150-linux-x64', 'better_sqlite3.node'),
    );
    expect(sqliteBindingFile(electron45, join('/opt/Perpetua/resources', 'app.asar'))).toBe(
      join('/opt/Perpetua/resources', 'native', 'electron-150-linux-x64', 'better_sqlite3.node'),
    );
    expect(electronBindingFolder('150', 'darwin', 'arm64')).toBe('electron-150-darwin-arm64');
  });

  it('a missing build is one sentence naming the runtime, its ABI and the command that builds it', () => {
    const err = catchError(() => loadSqliteBinding(electron45, root));
    expect(err.code).toBe('native_module_unusable');
    expect(err.message).toContain('Electron 45.5.0 (ABI 150, linux-x64)');
    expect(err.message).toContain('is missing');
    expect(err.message).toContain('run `npm run native:electron`');
    expect(err.message).not.toContain('\n');
    expect(err.message.endsWith('.')).toBe(true);
  });

  it('a build for another runtime (it does not load) is one sentence naming the runtime, its ABI and the command', () => {
    const file = sqliteBindingFile(electron45, root);
    mkdirSync(dirname(file), { recursive: true });
    // Not a shared object: the loader refuses it with the same error code as another ABI's build.
    writeFileSync(file, 'built for a different NODE_MODULE_VERSION\n');
    const err = catchError(() => loadSqliteBinding(electron45, root));
    expect(err.message).toBe(
      `The SQLite module ${file} was not built for Electron 45.5.0 (ABI 150, linux-x64); run \`npm run native:electron\` to rebuild it.`,
    );
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ERR_DLOPEN_FAILED');
  });

  it('tells a Node user to rebuild node_modules (what `npm test` and the CLI load)', () => {
    expect(fixCommand(currentRuntime())).toBe('npm rebuild better-sqlite3');
    expect(fixCommand(electron45)).toBe('npm run native:electron');
  });
});
