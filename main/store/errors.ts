/**
 * Typed errors of the store. Each message is one sentence a user can read; details for logs and
 * code live in fields and `cause`.
 */
import { PerpetuaError, type ErrorCode } from '../shared/errors.js';

/** The database file cannot be opened or used (not SQLite, damaged, unreadable, from another program). */
export class DatabaseError extends PerpetuaError {
  override name = 'DatabaseError';
  override readonly code: ErrorCode = 'database_unusable';
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The database was written by a newer Perpetua (higher schema version); it is left untouched. */
export class DatabaseVersionError extends DatabaseError {
  override name = 'DatabaseVersionError';
  override readonly code: ErrorCode = 'database_too_new';
  constructor(
    file: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `The chat database ${file} was written by a newer version of Perpetua (schema ${found}, this version understands up to ${supported}), so it was left unchanged; please update Perpetua.`,
      file,
    );
  }
}

/** Base class for errors about the data itself (as opposed to the database file). */
export class StoreError extends PerpetuaError {
  override name = 'StoreError';
}

export type EntityKind = 'model' | 'session' | 'message' | 'A/B run';

export class NotFoundError extends StoreError {
  override name = 'NotFoundError';
  override readonly code: ErrorCode = 'not_found';
  constructor(
    readonly entity: EntityKind,
    readonly id: number | string,
  ) {
    super(`The ${entity} ${typeof id === 'string' ? JSON.stringify(id) : id} does not exist (it may have been deleted).`);
  }
}

export class SessionNameTakenError extends StoreError {
  override name = 'SessionNameTakenError';
  override readonly code: ErrorCode = 'name_taken';
  constructor(readonly sessionName: string) {
    super(`A chat named ${JSON.stringify(sessionName)} already exists; please choose another name.`);
  }
}

export class MessageWriterClosedError extends StoreError {
  override name = 'MessageWriterClosedError';
  constructor(readonly messageId: number) {
    super(`The reply ${messageId} has already been finished, so no more text can be added to it.`);
  }
}
