import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DatabaseError, DatabaseVersionError } from './errors.js';
import { APPLICATION_ID, MIGRATIONS, type Migration } from './migrations.js';
import { sqliteBinding } from './native-binding.js';

export type Db = Database.Database;

export interface OpenDatabaseOptions {
  /** Replaces the built-in migrations (tests). The supported schema version is their count. */
  migrations?: readonly Migration[];
  /** How long a write waits for another connection's lock before failing, in ms. */
  busyTimeoutMs?: number;
  /** The better-sqlite3 addon file (default: the build for the running runtime, see native-binding.ts). */
  nativeBinding?: string;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Opens (creating if missing) the chat database and brings its schema up to date.
 *
 * Order matters: we look at the file and its `user_version` through a read-only connection first,
 * so a file that is not ours, or one written by a newer Perpetua, is refused without a single byte
 * changing (not even the WAL switch, which rewrites the header). Only then do we open read-write.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Db {
  const migrations = options.migrations ?? MIGRATIONS;
  const supported = migrations.length;
  const inMemory = file === ':memory:';
  // Outside the try below: a missing or mismatched addon is its own sentence, not "could not be opened".
  const nativeBinding = options.nativeBinding ?? sqliteBinding();

  if (!inMemory && sniffFile(file) === 'sqlite') probeExisting(file, supported, nativeBinding);

  let db: Db;
  try {
    db = new Database(file, { nativeBinding });
  } catch (cause) {
    throw new DatabaseError(`The chat database ${file} could not be opened.`, file, { cause });
  }
  try {
    // WAL: readers never block the streaming writer; NORMAL sync is crash-safe in WAL mode (a power
    // cut may lose the last commits, a process crash loses nothing committed).
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('synchronous = NORMAL');
    migrate(db, file, migrations);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`The chat database ${file} is damaged or could not be prepared for use.`, file, {
      cause: error,
    });
  }
}

/** Reads the schema version of an open database. */
export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** 'missing'/'empty': SQLite will create a fresh database; 'sqlite': has the SQLite header. */
function sniffFile(file: string): 'missing' | 'empty' | 'sqlite' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new DatabaseError(`The chat database ${file} could not be read.`, file, { cause });
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) {
      throw new DatabaseError(`The chat database path ${file} is a folder, not a file.`, file);
    }
    if (stat.size === 0) return 'empty';
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < head.length || !head.equals(SQLITE_MAGIC)) {
      throw new DatabaseError(`The file ${file} is not a Perpetua chat database (it is not an SQLite file).`, file);
    }
    return 'sqlite';
  } finally {
    closeSync(fd);
  }
}

/**
 * Looks at an existing file through a read-only connection, which can neither checkpoint a WAL nor
 * write a header on close, and refuses it if it is someone else's or newer than we understand.
 */
function probeExisting(file: string, supported: number, nativeBinding: string): void {
  let ro: Db | undefined;
  try {
    ro = new Database(file, { readonly: true, fileMustExist: true, nativeBinding });
    const version = schemaVersion(ro);
    if (version > supported) throw new DatabaseVersionError(file, version, supported);
    const appId = ro.pragma('application_id', { simple: true }) as number;
    const objects = ro.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
    if (appId !== APPLICATION_ID && (appId !== 0 || objects > 0)) {
      throw new DatabaseError(
        `The file ${file} is an SQLite database of another program, not a Perpetua chat database.`,
        file,
      );
    }
  } catch (error) {
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`The chat database ${file} is damaged or is not a database.`, file, { cause: error });
  } finally {
    ro?.close();
  }
}

/** Applies pending migrations, each with its version bump in one IMMEDIATE transaction. */
function migrate(db: Db, file: string, migrations: readonly Migration[]): void {
  const step = db.transaction((): boolean => {
    // Re-read under the write lock: another process may have migrated since we looked.
    const version = schemaVersion(db);
    if (version > migrations.length) throw new DatabaseVersionError(file, version, migrations.length);
    if (version === migrations.length) return false;
    migrations[version].up(db);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  for (;;) {
    const before = schemaVersion(db);
    try {
      if (!step.immediate()) return;
    } catch (cause) {
      if (cause instanceof DatabaseError) throw cause;
      const name = migrations[before]?.name ?? 'unknown';
      throw new DatabaseError(
        `The chat database ${file} could not be upgraded (step ${before + 1}, ${name}, failed), so it was left as it was.`,
        file,
        { cause },
      );
    }
  }
}
