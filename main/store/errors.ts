/**
 * Typed errors of the store. Each message is one sentence a user can read; details for logs and
 * code live in fields and `cause`.
 */
import { PerpetuaError } from '../engine/errors.js';

/** The database file cannot be opened or used (not SQLite, damaged, unreadable, from another program). */
export class DatabaseError extends PerpetuaError {
  override name = 'DatabaseError';
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
  constructor(
    readonly entity: EntityKind,
    readonly id: number | string,
  ) {
    super(`The ${entity} ${typeof id === 'string' ? JSON.stringify(id) : id} does not exist (it may have been deleted).`);
  }
}

export class SessionNameTakenError extends StoreError {
  override name = 'SessionNameTakenError';
  constructor(readonly sessionName: string) {
    super(`A chat named ${JSON.stringify(sessionName)} already exists; please choose another name.`);
  }
}

/** A session name that is empty or holds control characters (NUL, ESC, line breaks…), which no list can show. */
export class InvalidNameError extends StoreError {
  override name = 'InvalidNameError';
  constructor(readonly given: string) {
    super(
      given.trim() === ''
        ? 'A chat name cannot be empty; please choose a name.'
        : 'A chat name cannot contain control characters (such as NUL, escape or line breaks); please choose another name.',
    );
  }
}

export class MessageWriterClosedError extends StoreError {
  override name = 'MessageWriterClosedError';
  constructor(readonly messageId: number) {
    super(`The reply ${messageId} has already been finished, so no more text can be added to it.`);
  }
}
