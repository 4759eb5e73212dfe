/**
 * Typed errors of the store. Each message is one sentence a user can read; details for logs and
 * code live in fields and `cause`.
 */
import { errorCode, PerpetuaError, type ErrorCode } from '../shared/errors.js';

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

/** The database (or its folder) cannot be written: a read-only or immutable file, a read-only folder or disk. */
export class DatabaseReadOnlyError extends DatabaseError {
  override name = 'DatabaseReadOnlyError';
  override readonly code: ErrorCode = 'database_read_only';
  constructor(file: string, options?: { cause?: unknown }) {
    super(
      `The chat database ${file} cannot be written (the file, its folder or the disk is read-only), so nothing was saved; make it writable or use a copy elsewhere.`,
      file,
      options,
    );
  }
}

/** SQLite found damaged pages. Nothing is written; `perpetua export` still reads every message it can. */
export class DatabaseDamagedError extends DatabaseError {
  override name = 'DatabaseDamagedError';
  override readonly code: ErrorCode = 'database_damaged';
  constructor(file: string, options?: { cause?: unknown }) {
    super(
      `The chat database ${file} is damaged or is not a database, so nothing was changed in it; \`perpetua export --db ${file} --out FILE\` saves every message that can still be read.`,
      file,
      options,
    );
  }
}

/** The disk (or SQLite's size limit) is full: the write was rolled back whole. */
export class DatabaseFullError extends DatabaseError {
  override name = 'DatabaseFullError';
  override readonly code: ErrorCode = 'disk_full';
  constructor(file: string, options?: { cause?: unknown }) {
    super(`The disk holding the chat database ${file} is full, so the last change was not saved; free some space and try again.`, file, options);
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

/**
 * A row SQLite reads without complaint holds a value that is not what the app wrote (a damaged page copied over it):
 * the same refusal as SQLite's own damage report, so nothing is changed and export still saves what can be read.
 */
export class DamagedRowError extends StoreError {
  override name = 'DamagedRowError';
  override readonly code: ErrorCode = 'database_damaged';
  constructor(readonly field: string, options?: { cause?: unknown }) {
    super(
      `The chat database is damaged (a stored ${field} cannot be read), so nothing was changed in it; \`perpetua export --db FILE --out FILE\` saves every message that can still be read.`,
      options,
    );
  }
}

export type EntityKind = 'model' | 'session' | 'message' | 'A/B run' | 'preset';

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

/** A session name that is empty or holds control characters (NUL, ESC, line breaks…), which no list can show. */
export class InvalidNameError extends StoreError {
  override name = 'InvalidNameError';
  override readonly code: ErrorCode = 'invalid_input';
  constructor(readonly given: string) {
    super(
      given.trim() === ''
        ? 'A chat name cannot be empty; please choose a name.'
        : 'A chat name cannot contain control characters (such as NUL, escape or line breaks); please choose another name.',
    );
  }
}

/** Saving a streamed answer failed: the user saw more of it than the database holds, and is told how much. */
export class AnswerNotSavedError extends StoreError {
  override name = 'AnswerNotSavedError';
  override readonly code: ErrorCode;
  constructor(
    readonly reason: DatabaseError,
    readonly shownChars: number,
    readonly savedChars: number,
  ) {
    super(`${reason.message} Of the ${shownChars} characters of this answer shown, the first ${savedChars} are saved.`, { cause: reason });
    this.code = reason.code;
  }
}

/**
 * The answer is stored (done, or stopped), but the cache snapshot after it could not be written (a full disk): nothing
 * of the chat is lost, a reopen re-reads the transcript the snapshot would have covered.
 */
export class CacheNotSavedError extends StoreError {
  override name = 'CacheNotSavedError';
  override readonly code: ErrorCode;
  constructor(readonly reason: unknown) {
    const said = reason instanceof PerpetuaError ? reason.message : 'Saving the chat\'s cache failed.';
    super(`${said} The answer itself is saved; only the cache's copy is not, so reopening the chat reads its transcript again.`, { cause: reason });
    this.code = errorCode(reason);
  }
}

/** The session is being written by another Perpetua process: a second writer would corrupt its cache. */
export class SessionLockedError extends StoreError {
  override name = 'SessionLockedError';
  override readonly code: ErrorCode = 'session_locked';
  constructor(
    readonly sessionName: string,
    readonly heldBy: { holder: string; pid: number; host: string; since: number },
    /** how long the holder's lease lasts without renewal: a holder that is gone lets go within it */
    leaseMs?: number,
  ) {
    const since = new Date(heldBy.since).toISOString().replace('T', ' ').slice(0, 19);
    const gone = leaseMs
      ? ` If that process is gone, the chat can be opened here within ${Math.ceil(leaseMs / 1000)} s of its last sign of life, or taken over now.`
      : '';
    super(
      `The chat ${JSON.stringify(sessionName)} is open in another Perpetua process (${heldBy.holder}, pid ${heldBy.pid} on ${heldBy.host}, since ${since} UTC); close it there first.${gone}`,
    );
  }
}

/** A take-over refused: the process holding the chat runs in this boot of this computer (its pid, its start time). */
export class SessionHolderRunningError extends StoreError {
  override name = 'SessionHolderRunningError';
  override readonly code: ErrorCode = 'session_holder_running';
  constructor(
    readonly sessionName: string,
    readonly heldBy: { holder: string; pid: number },
  ) {
    super(
      `The chat ${JSON.stringify(sessionName)} cannot be taken over: the Perpetua process that has it open (${heldBy.holder}, pid ${heldBy.pid}) is still running on this computer. Close the chat there first.`,
    );
  }
}

export class MessageWriterClosedError extends StoreError {
  override name = 'MessageWriterClosedError';
  constructor(readonly messageId: number) {
    super(`The reply ${messageId} has already been finished, so no more text can be added to it.`);
  }
}
