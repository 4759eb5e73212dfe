import { accessSync, closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { unreadableReason } from '../shared/regular-file.js';
import { DatabaseError, DatabaseReadOnlyError, DatabaseVersionError } from './errors.js';
import { fromSqliteError } from './sqlite-errors.js';
import { APPLICATION_ID, MIGRATIONS, type Migration } from './migrations.js';
import { sqliteBinding } from './native-binding.js';
import { prepareAutoVacuum, reclaimSpace } from './space.js';
import { WalCheckpointer } from './wal-checkpointer.js';

export type Db = Database.Database;

export interface OpenDatabaseOptions {
  /** Replaces the built-in migrations (tests). The supported schema version is their count. */
  migrations?: readonly Migration[];
  /** How long a write waits for another connection's lock before failing, in ms. */
  busyTimeoutMs?: number;
  /** Only read (listing, search, export): works on a read-only file, never migrates or writes. */
  readOnly?: boolean;
  /** Told how a long migration goes (building the search index over many messages), to show its progress. */
  onMigrationProgress?: (p: { step: string; done: number; total: number }) => void;
  /** The better-sqlite3 addon file (default: the build for the running runtime, see native-binding.ts). */
  nativeBinding?: string;
  /** The WAL is checkpointed (off the core's thread) once it holds this many bytes (wal-checkpointer.ts). */
  walCheckpointBytes?: number;
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

  if (!inMemory) checkPath(file, options.readOnly === true);
  const kind = inMemory ? 'missing' : sniffFile(file);
  if (kind === 'sqlite') probeExisting(file, supported, nativeBinding);
  if (options.readOnly) return openReadOnly(file, kind, supported, nativeBinding);

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
    prepareAutoVacuum(db); // deleted chats give their space back (space.ts)
    migrate(db, file, migrations, options.onMigrationProgress);
    reclaimSpace(db);
    if (!inMemory) WalCheckpointer.attach(db, nativeBinding, options.walCheckpointBytes);
    return db;
  } catch (error) {
    db.close();
    throw (
      fromSqliteError(error, file) ??
      new DatabaseError(`The chat database ${file} is damaged or could not be prepared for use.`, file, { cause: error })
    );
  }
}

/**
 * Refuses, before SQLite opens anything, a path that is not a plain file (a FIFO would block the open, a
 * device would be read forever) and, for writing, a file or folder that cannot be written.
 */
function checkPath(file: string, readOnly: boolean): void {
  // a path given in another encoding arrives with U+FFFD for its bytes: opened as it reads, it would name another file
  if (file.includes('\uFFFD')) {
    throw new DatabaseError(`The chat database path ${file} is not valid UTF-8 (a character shows as \uFFFD), so Perpetua cannot name that file; rename it or its folder.`, file);
  }
  const reason = unreadableReason(file, Number.MAX_SAFE_INTEGER);
  const missing = reason === 'does not exist';
  if (reason && !missing) throw new DatabaseError(`The chat database ${file} ${reason}.`, file);
  if (missing && readOnly) throw new DatabaseError(`The chat database ${file} does not exist.`, file);
  if (readOnly) return;
  try {
    accessSync(missing ? dirname(file) : file, constants.W_OK);
    // WAL mode writes two files beside the database
    accessSync(dirname(file), constants.W_OK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DatabaseError(`The folder of the chat database ${file} does not exist.`, file, { cause });
    throw new DatabaseReadOnlyError(file, { cause });
  }
}

/** A connection that can only read, for an up-to-date database; nothing in the file changes. */
function openReadOnly(file: string, kind: 'missing' | 'empty' | 'sqlite', supported: number, nativeBinding: string): Db {
  if (kind !== 'sqlite') throw new DatabaseError(`The chat database ${file} is empty.`, file);
  const db = new Database(file, { readonly: true, fileMustExist: true, nativeBinding });
  try {
    if (schemaVersion(db) < supported) {
      throw new DatabaseError(`The chat database ${file} is from an older Perpetua; open it once for writing so it is upgraded.`, file);
    }
    return db;
  } catch (error) {
    db.close();
    throw fromSqliteError(error, file) ?? error;
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
    // checkPath made sure this is a plain file, so the open cannot block on a FIFO
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
    throw fromSqliteError(error, file) ?? new DatabaseError(`The chat database ${file} is damaged or is not a database.`, file, { cause: error });
  } finally {
    ro?.close();
  }
}

/** Applies pending migrations, each with its version bump in one IMMEDIATE transaction. */
function migrate(
  db: Db,
  file: string,
  migrations: readonly Migration[],
  onProgress?: OpenDatabaseOptions['onMigrationProgress'],
): void {
  const step = db.transaction((): boolean => {
    // Re-read under the write lock: another process may have migrated since we looked.
    const version = schemaVersion(db);
    if (version > migrations.length) throw new DatabaseVersionError(file, version, migrations.length);
    if (version === migrations.length) return false;
    const { name, up } = migrations[version]!;
    up(db, onProgress && ((done, total) => onProgress({ step: name, done, total })));
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  for (;;) {
    const before = schemaVersion(db);
    try {
      if (!step.immediate()) return;
    } catch (cause) {
      if (cause instanceof DatabaseError) throw cause;
      const typed = fromSqliteError(cause, file);
      if (typed && typed.constructor !== DatabaseError) throw typed;
      const name = migrations[before]?.name ?? 'unknown';
      throw new DatabaseError(
        `The chat database ${file} could not be upgraded (step ${before + 1}, ${name}, failed), so it was left as it was.`,
        file,
        { cause },
      );
    }
  }
}
