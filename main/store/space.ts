import type Database from 'better-sqlite3';
import { WalCheckpointer } from './wal-checkpointer.js';

// the connection type spelled here, not imported from database.ts, which calls into this file
type Db = Database.Database;

/**
 * Space deleted chats and pruned snapshots leave behind goes back to the disk. A database in incremental auto_vacuum
 * mode keeps freed pages on a list; `reclaimSpace` gives them back (and the WAL checkpoint truncates the file), so a
 * database does not stay at its largest size forever.
 */

/** SQLite's auto_vacuum modes. */
const INCREMENTAL = 2;
/** A database older than auto_vacuum support is converted (one VACUUM) when this much of it is free pages … */
const CONVERT_FREE_SHARE = 0.25;
/** … or when it is this small anyway (the VACUUM takes a blink). */
const CONVERT_SMALL_BYTES = 64 * 2 ** 20;

/**
 * Puts a database into incremental auto_vacuum: a new one before its first table, an older one by one VACUUM when it
 * is small or a quarter free (a large, full database keeps its mode until then: a VACUUM rewrites the whole file).
 */
export function prepareAutoVacuum(db: Db): void {
  if (db.pragma('auto_vacuum', { simple: true }) === INCREMENTAL) return;
  const pages = db.pragma('page_count', { simple: true }) as number;
  if (pages === 0) {
    db.pragma('auto_vacuum = INCREMENTAL'); // takes effect as the first table is created
    return;
  }
  const free = db.pragma('freelist_count', { simple: true }) as number;
  const size = pages * (db.pragma('page_size', { simple: true }) as number);
  if (size > CONVERT_SMALL_BYTES && free < pages * CONVERT_FREE_SHARE) return;
  try {
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('VACUUM'); // the mode of an existing database changes only with a VACUUM
  } catch {
    // another connection is reading or the disk is full: the database works as it is, the next start tries again
  }
}

/** Gives the free pages back to the disk; returns how many bytes the file shrank by (after the WAL checkpoint). */
export function reclaimSpace(db: Db): number {
  if (db.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL) return 0;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  if (free === 0) return 0;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma('incremental_vacuum');
  // the truncation reaches the file at the checkpoint: the checkpointer's thread does it where there is one (a big WAL
  // copied on the core's thread would hold it); PASSIVE never waits for readers
  const checkpointer = WalCheckpointer.of(db);
  if (checkpointer) checkpointer.checkpointSoon();
  else db.pragma('wal_checkpoint(PASSIVE)');
  return free * pageSize;
}
