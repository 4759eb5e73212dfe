import { DatabaseDamagedError, DatabaseError, DatabaseFullError, DatabaseReadOnlyError } from './errors.js';

/**
 * The typed, one-sentence error for a failure of the database file that SQLite reported (better-sqlite3's
 * SqliteError carries SQLite's extended result code as `code`), or null for any other error.
 */
export function fromSqliteError(error: unknown, file: string): DatabaseError | null {
  if (error instanceof DatabaseError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  const cause = { cause: error };
  if (code.startsWith('SQLITE_FULL')) return new DatabaseFullError(file, cause);
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') return new DatabaseReadOnlyError(file, cause);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return new DatabaseDamagedError(file, cause);
  if (code.startsWith('SQLITE_CANTOPEN')) return new DatabaseError(`The chat database ${file} could not be opened (its folder may be missing or not accessible).`, file, cause);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DatabaseError(`The chat database ${file} is busy in another program and stayed locked, so nothing was saved; try again.`, file, cause);
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new DatabaseError(`The chat database ${file} could not be read or written (the disk may be full or failing), so nothing was saved.`, file, cause);
  }
  // constraint and SQL errors are about the data or the code, not the file: their callers handle them
  return null;
}
