import type Database from 'better-sqlite3';
import { fromSqliteError } from './sqlite-errors.js';

const RUNNERS = ['run', 'get', 'all', 'iterate'] as const;

/** A failure of SQLite as the store's typed, one-sentence error (damaged, read-only, full…). */
export function typedFailure(error: unknown, db: Database.Database): unknown {
  return fromSqliteError(error, db.name) ?? error;
}

/**
 * Prepares a statement whose failures (at prepare or at run) come out as typed errors, so no caller ever
 * shows "database disk image is malformed" or "database or disk is full" raw.
 */
export function prepareTyped<P extends unknown[] | {}, R>(db: Database.Database, sql: string): Database.Statement<P, R> {
  let stmt: Database.Statement<P, R>;
  try {
    stmt = db.prepare<P, R>(sql);
  } catch (error) {
    throw typedFailure(error, db);
  }
  for (const name of RUNNERS) {
    const runner = (stmt[name] as (...args: unknown[]) => unknown).bind(stmt);
    Object.defineProperty(stmt, name, {
      value: (...args: unknown[]) => {
        try {
          return runner(...args);
        } catch (error) {
          throw typedFailure(error, db);
        }
      },
    });
  }
  return stmt;
}

/** Runs `fn` in a transaction; a failed COMMIT (a full disk) is typed like any statement's failure. */
export function inTransaction<T>(db: Database.Database, fn: () => T): T {
  try {
    return db.transaction(fn)();
  } catch (error) {
    throw typedFailure(error, db);
  }
}
